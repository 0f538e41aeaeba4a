/**
 * The isolation matrix (SECURITY.md "Tenancy"; ASVS 8.2.2, 8.4.1; the cross-organisation IDOR
 * of Zitadel CVE-2025-27507): every endpoint of auth, admin, users, events/attendance, audit
 * and social logs, two tenants A and B built alike, each role of A (user, organizer, admin)
 * reaching for B:
 *
 * 1. A's tokens on B's host: 401 `invalid_token` at every endpoint.
 * 2. On A's host with B's ids, tokens, codes and credentials: 400/401/403/404, never data.
 * 3. Every answer A gets, from every endpoint, contains none of B's ids, e-mails or slug.
 * 4. Afterwards, everything of B is as it was (no update or delete crossed).
 *
 * The endpoint list is the gateway's merged OpenAPI document: an endpoint added without a row
 * here fails the first test, so the matrix stays complete.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { multipart, pngImage } from '@gatehouse/users/testing';
import { PASSWORD, BASE_DOMAIN, startTestSystem, uniqueEmail, type Account, type TestSystem, type Reply } from '../system';
import { buildSide, markers, totp, type Side } from './fixtures';

type Role = 'user' | 'organizer' | 'admin';
const ROLES: Role[] = ['user', 'organizer', 'admin'];

interface Ctx {
  a: Side;
  b: Side;
  role: Role;
  actor: Account;
}

/** One row of the matrix. */
interface Probe {
  /** `METHOD /path` as in the OpenAPI document */
  endpoint: string;
  /**
   * `cross`: the request names B's data (ids, tokens, codes, credentials) on A's host and must
   * fail with one of `expect`; `self`: it names only the caller's own data, and its answer
   * must hold nothing of B.
   */
  kind: 'cross' | 'self';
  /** the URL to call (defaults to the endpoint's path) */
  path?: (c: Ctx) => string | Promise<string>;
  body?: (c: Ctx) => unknown | Promise<unknown>;
  headers?: (c: Ctx) => Record<string, string>;
  /** no access token on A's host (credential flows, public URLs) */
  anon?: boolean;
  /** allowed statuses for `cross`, per role or for all */
  expect?: number[] | Record<Role, number[]>;
  /** runs after the other rows (it ends the caller's own sessions) */
  last?: boolean;
  /** roles for which a `self` probe must succeed (2xx), so the leak check has an answer to read */
  ok?: Role[];
  /**
   * why the endpoint takes no access token (deployment-wide, or bound to its tenant's own browser
   * cookie, as the OpenID provider's hosted-login steps are); its answers are still checked
   */
  global?: string;
}

const adminOnly = { user: [403], organizer: [403], admin: [404] };
const organizerOnly = { user: [403], organizer: [404], admin: [404] };
const anyRole404 = [404];

const MATRIX: Probe[] = [
  // ---- auth: public credential flows ------------------------------------------------------
  { endpoint: 'GET /.well-known/jwks.json', kind: 'self', ok: ['user', 'organizer', 'admin'], anon: true, global: 'the deployment-wide public signing keys: the same for every tenant, no tenant data' },
  { endpoint: 'POST /api/v1/auth/register', kind: 'self', ok: ['user', 'organizer', 'admin'], anon: true, body: () => ({ email: uniqueEmail('matrix'), password: PASSWORD }) },
  { endpoint: 'POST /api/v1/auth/login', kind: 'cross', anon: true, body: ({ b }) => ({ email: b.user.email, password: b.user.password }), expect: [401] },
  { endpoint: 'POST /api/v1/auth/refresh', kind: 'cross', anon: true, body: ({ b }) => ({ refreshToken: b.user.refreshToken }), expect: [401] },
  // B's refresh token on A's host logs nothing out (logout is idempotent: 204; B's session is checked below)
  { endpoint: 'POST /api/v1/auth/logout', kind: 'cross', anon: true, body: ({ b }) => ({ refreshToken: b.user.refreshToken }), expect: [204] },
  { endpoint: 'POST /api/v1/auth/logout-all', kind: 'self', body: () => ({}), last: true },
  { endpoint: 'GET /api/v1/auth/me', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'GET /api/v1/auth/sessions', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'DELETE /api/v1/auth/sessions/{id}', kind: 'cross', path: ({ b }) => `/api/v1/auth/sessions/${b.sessionId}`, expect: anyRole404 },
  { endpoint: 'POST /api/v1/auth/password/change', kind: 'self', body: () => ({ currentPassword: 'not the password', newPassword: `${PASSWORD} changed` }) },
  // 202 always (no enumeration); that no mail reached B's user is checked below
  { endpoint: 'POST /api/v1/auth/password/forgot', kind: 'cross', anon: true, body: ({ b }) => ({ email: b.admin.email }), expect: [202] },
  { endpoint: 'POST /api/v1/auth/password/reset', kind: 'cross', anon: true, body: ({ b }) => ({ token: b.resetToken, newPassword: `${PASSWORD} hijacked` }), expect: [400] },
  { endpoint: 'POST /api/v1/auth/email/verify', kind: 'cross', anon: true, body: ({ b }) => ({ token: b.verifyToken }), expect: [400] },
  { endpoint: 'POST /api/v1/auth/email/verify/resend', kind: 'self', body: () => ({}) },
  // ---- auth: self-service account (issue 12) ---------------------------------------------------
  { endpoint: 'PATCH /api/v1/auth/me', kind: 'self', ok: ['user', 'organizer', 'admin'], body: ({ role }) => ({ displayName: `The ${role} of A` }) },
  // B's password does not confirm anything for A's account
  { endpoint: 'POST /api/v1/auth/email/change', kind: 'cross', body: ({ b }) => ({ newEmail: uniqueEmail('matrix-move'), password: b.user.password }), expect: [401] },
  { endpoint: 'POST /api/v1/auth/email/change/confirm', kind: 'cross', anon: true, body: ({ b }) => ({ token: b.emailChangeToken }), expect: [400] },
  { endpoint: 'DELETE /api/v1/auth/me', kind: 'cross', body: ({ b }) => ({ password: b.user.password }), expect: [401] },
  // ---- auth: second factor -------------------------------------------------------------------
  { endpoint: 'POST /api/v1/auth/login/mfa', kind: 'cross', anon: true, body: ({ b }) => ({ mfaToken: b.mfaToken, code: totp(b.mfaUser.secret) }), expect: [401] },
  { endpoint: 'POST /api/v1/auth/mfa/totp/setup', kind: 'self', body: () => ({}) },
  { endpoint: 'POST /api/v1/auth/mfa/totp/confirm', kind: 'cross', body: ({ b }) => ({ code: totp(b.mfaUser.secret) }), expect: [400] },
  { endpoint: 'DELETE /api/v1/auth/mfa/totp', kind: 'cross', body: ({ b }) => ({ password: b.mfaUser.password }), expect: [400, 401, 404, 409] },
  { endpoint: 'POST /api/v1/auth/mfa/backup-codes', kind: 'cross', body: ({ b }) => ({ password: b.mfaUser.password }), expect: [400, 401, 404, 409] },
  // ---- auth: passkeys ------------------------------------------------------------------------
  { endpoint: 'POST /api/v1/auth/passkeys/register/options', kind: 'self', ok: ['user', 'organizer', 'admin'], body: () => ({}) },
  { endpoint: 'POST /api/v1/auth/passkeys/register/verify', kind: 'self', body: () => ({ response: fakeCredential() }) },
  { endpoint: 'POST /api/v1/auth/passkeys/login/options', kind: 'self', ok: ['user', 'organizer', 'admin'], anon: true, body: () => ({}) },
  { endpoint: 'POST /api/v1/auth/passkeys/login/verify', kind: 'self', anon: true, body: () => ({ response: fakeCredential() }) },
  { endpoint: 'GET /api/v1/auth/passkeys', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'DELETE /api/v1/auth/passkeys/{id}', kind: 'cross', path: ({ b }) => `/api/v1/auth/passkeys/${b.passkeyId}`, expect: anyRole404 },
  // ---- auth: social login ----------------------------------------------------------------------
  { endpoint: 'GET /api/v1/auth/oauth/providers', kind: 'self', ok: ['user', 'organizer', 'admin'], anon: true },
  {
    endpoint: 'GET /api/v1/auth/oauth/{provider}/start',
    kind: 'cross',
    anon: true,
    path: ({ b }) => `/api/v1/auth/oauth/github/start?redirectUri=${encodeURIComponent(b.redirectUri)}`,
    expect: [400, 404],
  },
  {
    endpoint: 'POST /api/v1/auth/oauth/{provider}/link/start',
    kind: 'cross',
    path: () => '/api/v1/auth/oauth/github/link/start',
    body: ({ b }) => ({ redirectUri: b.redirectUri }),
    expect: [400, 404],
  },
  // linked identities (issue 12): the path names only a provider, so the caller's own identity
  // at most (A's user unlinks its own GitHub identity: it has a password); B's stays linked (below)
  { endpoint: 'GET /api/v1/auth/identities', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'DELETE /api/v1/auth/identities/{provider}', kind: 'self', ok: ['user'], path: () => '/api/v1/auth/identities/github' },
  { endpoint: 'GET /api/v1/auth/oauth/{provider}/callback', kind: 'self', anon: true, path: () => '/api/v1/auth/oauth/github/callback?state=forged&code=forged' },
  { endpoint: 'POST /api/v1/auth/oauth/exchange', kind: 'self', anon: true, body: () => ({ code: 'not-a-code' }) },
  { endpoint: 'GET /api/v1/admin/oauth-providers', kind: 'self', ok: ['admin'] },
  // B configured github, A did not: A's admin cannot remove B's
  { endpoint: 'DELETE /api/v1/admin/oauth-providers/{provider}', kind: 'cross', path: () => '/api/v1/admin/oauth-providers/github', expect: adminOnly },
  {
    endpoint: 'PUT /api/v1/admin/oauth-providers/{provider}',
    kind: 'self', ok: ['admin'],
    path: () => '/api/v1/admin/oauth-providers/github',
    body: ({ a }) => ({ clientId: `client-${a.slug}`, clientSecret: 'a-secret-of-a' }),
  },
  // ---- admin: users of the tenant --------------------------------------------------------------
  { endpoint: 'GET /api/v1/admin/users', kind: 'self', ok: ['admin'] },
  { endpoint: 'GET /api/v1/admin/users/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.user.id}`, expect: adminOnly },
  { endpoint: 'PATCH /api/v1/admin/users/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.user.id}`, body: () => ({ disabled: true, roles: ['user', 'admin'] }), expect: adminOnly },
  { endpoint: 'DELETE /api/v1/admin/users/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.organizer.id}`, expect: adminOnly },
  { endpoint: 'GET /api/v1/admin/users/{id}/sessions', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.user.id}/sessions`, expect: adminOnly },
  // A's own user with B's session id: not found (B's user id alone would fail earlier)
  { endpoint: 'DELETE /api/v1/admin/users/{id}/sessions/{sid}', kind: 'cross', path: ({ a, b }) => `/api/v1/admin/users/${a.user.id}/sessions/${b.sessionId}`, expect: adminOnly },
  { endpoint: 'POST /api/v1/admin/users/{id}/sessions/revoke', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.user.id}/sessions/revoke`, body: () => ({}), expect: adminOnly },
  { endpoint: 'POST /api/v1/admin/users', kind: 'self', ok: ['admin'], body: () => ({ email: uniqueEmail('matrix-made') }) },
  { endpoint: 'POST /api/v1/admin/users/{id}/password-reset', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.admin.id}/password-reset`, body: () => ({}), expect: adminOnly },
  // ---- admin: roles and the admin's own tenant (issue 12) -----------------------------------------
  { endpoint: 'GET /api/v1/admin/roles', kind: 'self', ok: ['admin'] },
  { endpoint: 'POST /api/v1/admin/roles', kind: 'self', ok: ['admin'], body: () => ({ name: `m-${randomUUID().slice(0, 8)}`, permissions: ['a:read'] }) },
  { endpoint: 'PATCH /api/v1/admin/roles/{name}', kind: 'cross', path: ({ b }) => `/api/v1/admin/roles/${b.roleName}`, body: () => ({ permissions: ['hijacked'] }), expect: adminOnly },
  { endpoint: 'DELETE /api/v1/admin/roles/{name}', kind: 'cross', path: ({ b }) => `/api/v1/admin/roles/${b.roleName}`, expect: adminOnly },
  { endpoint: 'GET /api/v1/admin/tenant', kind: 'self', ok: ['admin'] },
  { endpoint: 'PATCH /api/v1/admin/tenant', kind: 'self', ok: ['admin'], body: ({ a }) => ({ name: `Tenant ${a.slug}` }) },
  { endpoint: 'POST /api/v1/admin/users/{id}/mfa/reset', kind: 'cross', path: ({ b }) => `/api/v1/admin/users/${b.mfaUser.id}/mfa/reset`, body: () => ({}), expect: adminOnly },
  // ---- admin: webhooks ----------------------------------------------------------------------------
  { endpoint: 'GET /api/v1/admin/webhooks', kind: 'self', ok: ['admin'] },
  { endpoint: 'POST /api/v1/admin/webhooks', kind: 'self', ok: ['admin'], body: ({ a }) => ({ url: `https://hooks-${a.slug}.invalid/more`, events: ['social.events.none'] }) },
  { endpoint: 'GET /api/v1/admin/webhooks/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}`, expect: adminOnly },
  { endpoint: 'PATCH /api/v1/admin/webhooks/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}`, body: () => ({ disabled: true, url: 'https://attacker.invalid/' }), expect: adminOnly },
  { endpoint: 'DELETE /api/v1/admin/webhooks/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}`, expect: adminOnly },
  { endpoint: 'GET /api/v1/admin/webhooks/{id}/deliveries', kind: 'cross', path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}/deliveries`, expect: adminOnly },
  {
    endpoint: 'GET /api/v1/admin/webhooks/{id}/deliveries/{deliveryId}',
    kind: 'cross',
    path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}/deliveries/${b.webhookDeliveryId}`,
    expect: adminOnly,
  },
  {
    endpoint: 'POST /api/v1/admin/webhooks/{id}/deliveries/{deliveryId}/replay',
    kind: 'cross',
    path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}/deliveries/${b.webhookDeliveryId}/replay`,
    expect: adminOnly,
  },
  { endpoint: 'POST /api/v1/admin/webhooks/{id}/test', kind: 'cross', path: ({ b }) => `/api/v1/admin/webhooks/${b.webhookId}/test`, expect: adminOnly },
  // ---- OpenID Connect provider: applications, API resources, connected apps, hosted login ---------
  { endpoint: 'GET /api/v1/admin/applications', kind: 'self', ok: ['admin'] },
  {
    endpoint: 'POST /api/v1/admin/applications',
    kind: 'self',
    ok: ['admin'],
    body: ({ a }) => ({ name: 'matrix app', type: 'web', redirectUris: [`https://app-${a.slug}.example/more`] }),
  },
  { endpoint: 'GET /api/v1/admin/applications/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/applications/${b.applicationId}`, expect: adminOnly },
  {
    endpoint: 'PATCH /api/v1/admin/applications/{id}',
    kind: 'cross',
    path: ({ b }) => `/api/v1/admin/applications/${b.applicationId}`,
    body: () => ({ redirectUris: ['https://attacker.example/cb'], disabled: true }),
    expect: adminOnly,
  },
  { endpoint: 'DELETE /api/v1/admin/applications/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/applications/${b.applicationId}`, expect: adminOnly },
  { endpoint: 'POST /api/v1/admin/applications/{id}/secret', kind: 'cross', path: ({ b }) => `/api/v1/admin/applications/${b.applicationId}/secret`, expect: adminOnly },
  { endpoint: 'GET /api/v1/admin/resources', kind: 'self', ok: ['admin'] },
  {
    endpoint: 'POST /api/v1/admin/resources',
    kind: 'self',
    ok: ['admin'],
    body: () => ({ name: 'matrix API', audience: `https://matrix-${randomUUID()}.example`, scopes: [{ name: 'read' }] }),
  },
  { endpoint: 'GET /api/v1/admin/resources/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/resources/${b.resourceId}`, expect: adminOnly },
  { endpoint: 'PATCH /api/v1/admin/resources/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/resources/${b.resourceId}`, body: () => ({ name: 'hijacked' }), expect: adminOnly },
  { endpoint: 'DELETE /api/v1/admin/resources/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/resources/${b.resourceId}`, expect: adminOnly },
  { endpoint: 'GET /api/v1/auth/consents', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'DELETE /api/v1/auth/consents/{applicationId}', kind: 'cross', path: ({ b }) => `/api/v1/auth/consents/${b.applicationId}`, expect: anyRole404 },
  {
    endpoint: 'GET /oidc/interaction/{uid}',
    kind: 'self',
    anon: true,
    path: ({ b }) => `/oidc/interaction/${b.interactionUid}`,
    global: 'sends the browser to the console sign-in page for any uid; reads nothing',
  },
  {
    endpoint: 'GET /oidc/interaction/{uid}/details',
    kind: 'cross',
    anon: true,
    path: ({ b }) => `/oidc/interaction/${b.interactionUid}/details`,
    global: "bound to the interaction cookie its tenant's provider set, not to an access token",
    expect: [404],
  },
  { endpoint: 'POST /oidc/interaction/{uid}/login', kind: 'cross', path: ({ b }) => `/oidc/interaction/${b.interactionUid}/login`, body: () => ({}), expect: [404] },
  { endpoint: 'POST /oidc/interaction/{uid}/consent', kind: 'cross', path: ({ b }) => `/oidc/interaction/${b.interactionUid}/consent`, body: () => ({}), expect: [404] },
  {
    endpoint: 'POST /oidc/interaction/{uid}/abort',
    kind: 'cross',
    anon: true,
    path: ({ b }) => `/oidc/interaction/${b.interactionUid}/abort`,
    body: () => ({}),
    global: "bound to the interaction cookie its tenant's provider set, not to an access token",
    expect: [404],
  },
  // ---- admin: tenants (superadmin of the default tenant only) -------------------------------------
  { endpoint: 'GET /api/v1/admin/tenants', kind: 'cross', expect: [403] },
  { endpoint: 'POST /api/v1/admin/tenants', kind: 'cross', body: () => ({ slug: `m-${randomUUID().slice(0, 8)}`, name: 'nope' }), expect: [403] },
  { endpoint: 'GET /api/v1/admin/tenants/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/tenants/${b.tenant.id}`, expect: [403] },
  { endpoint: 'PATCH /api/v1/admin/tenants/{id}', kind: 'cross', path: ({ b }) => `/api/v1/admin/tenants/${b.tenant.id}`, body: () => ({ status: 'disabled' }), expect: [403] },
  // ---- users: profiles, avatars, QR ---------------------------------------------------------------
  { endpoint: 'GET /api/v1/users/me', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'PATCH /api/v1/users/me', kind: 'self', ok: ['user', 'organizer', 'admin'], body: ({ role }) => ({ bio: `the ${role} of A` }) },
  { endpoint: 'GET /api/v1/users/{id}', kind: 'cross', path: ({ b }) => `/api/v1/users/${b.user.id}`, expect: anyRole404 },
  {
    endpoint: 'PUT /api/v1/users/me/avatar',
    kind: 'self', ok: ['user', 'organizer', 'admin'],
    headers: () => avatarForm.headers,
    body: () => avatarForm.payload,
  },
  { endpoint: 'DELETE /api/v1/users/me/avatar', kind: 'self' },
  { endpoint: 'GET /api/v1/users/avatars/{objectId}', kind: 'cross', path: ({ b }) => `/api/v1/users/avatars/${b.avatarObject}`, expect: anyRole404 },
  { endpoint: 'GET /api/v1/users/me/qr', kind: 'self' },
  { endpoint: 'GET /api/v1/users/me/qr/token', kind: 'self' },
  { endpoint: 'GET /api/v1/users/me/attendance', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  // ---- events and attendance -------------------------------------------------------------------------
  {
    endpoint: 'POST /api/v1/events',
    kind: 'self', ok: ['organizer', 'admin'],
    body: () => ({ title: 'A-side event', startsAt: new Date(Date.now() + 3600_000).toISOString(), endsAt: new Date(Date.now() + 7200_000).toISOString() }),
  },
  { endpoint: 'GET /api/v1/events', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'GET /api/v1/events/{id}', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}`, expect: anyRole404 },
  { endpoint: 'PATCH /api/v1/events/{id}', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}`, body: () => ({ title: 'hijacked' }), expect: organizerOnly },
  { endpoint: 'DELETE /api/v1/events/{id}', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}`, expect: organizerOnly },
  // A's organizer scanning B's member at A's own event, and A's member at B's event
  {
    endpoint: 'POST /api/v1/events/{id}/check-ins',
    kind: 'cross',
    path: ({ b }) => `/api/v1/events/${b.eventId}/check-ins`,
    body: async (c) => ({ qrToken: await qrTokenOf(c) }),
    expect: organizerOnly,
  },
  {
    endpoint: 'POST /api/v1/events/{id}/check-outs',
    kind: 'cross',
    path: ({ b }) => `/api/v1/events/${b.eventId}/check-outs`,
    body: async (c) => ({ qrToken: await qrTokenOf(c) }),
    expect: organizerOnly,
  },
  { endpoint: 'GET /api/v1/events/{id}/attendance', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}/attendance`, expect: organizerOnly },
  { endpoint: 'PUT /api/v1/events/{id}/roster', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}/roster`, body: ({ b }) => ({ userIds: [b.user.id] }), expect: organizerOnly },
  { endpoint: 'GET /api/v1/events/{id}/roster', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}/roster`, expect: organizerOnly },
  { endpoint: 'GET /api/v1/events/{id}/attendance.csv', kind: 'cross', path: ({ b }) => `/api/v1/events/${b.eventId}/attendance.csv`, expect: organizerOnly },
  // ---- audit and social log ----------------------------------------------------------------------------
  { endpoint: 'GET /api/v1/audit/events', kind: 'self', ok: ['admin'] },
  { endpoint: 'GET /api/v1/audit/me', kind: 'self', ok: ['user', 'organizer', 'admin'] },
  { endpoint: 'GET /api/v1/audit/verify', kind: 'self', ok: ['admin'] },
  { endpoint: 'GET /api/v1/audit/stats/daily', kind: 'self', ok: ['admin'] },
  { endpoint: 'POST /api/v1/social-logs', kind: 'self', ok: ['user', 'organizer', 'admin'], body: ({ actor }) => ({ type: 'post.shared', targetId: actor.id }) },
  { endpoint: 'GET /api/v1/social-logs', kind: 'self', ok: ['user', 'organizer', 'admin'] },
];

const avatarForm = multipart([{ name: 'file', filename: 'a.png', type: 'image/png', data: pngImage(8, 8) }]);

/** A fresh attendance QR token of the calling member of A. */
async function qrTokenOf({ a, actor }: Ctx): Promise<string> {
  const r = await h.request('GET', '/api/v1/users/me/qr/token', { tenant: a.slug, token: actor.accessToken });
  if (r.status !== 200) throw new Error(`qr token: ${r.status} ${r.text}`);
  return r.body.token as string;
}

/** Fails unless every role's access token of `s` still works: a probe must not pass because a token died. */
async function assertLive(s: Side): Promise<void> {
  for (const role of ROLES) {
    const r = await h.request('GET', '/api/v1/auth/me', { tenant: s.slug, token: s[role].accessToken });
    assert.equal(r.status, 200, `${role} of ${s.slug} must still be signed in: ${r.text}`);
  }
}

/** A syntactically valid WebAuthn credential that no authenticator made. */
function fakeCredential() {
  return { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
}

let h: TestSystem;
let A: Side;
let B: Side;
let bMarkers: string[];
/** B's mailbox size for its admin before the probes (forgot-password from A must not mail B). */
let bAdminMails = 0;

const actorOf = (s: Side, role: Role): Account => s[role];

async function call(p: Probe, c: Ctx, host: 'own' | 'other', token?: string): Promise<Reply> {
  const [m, openapiPath] = p.endpoint.split(' ') as [string, string];
  const url = p.path ? await p.path(c) : openapiPath;
  const body = p.body ? await p.body(c) : undefined;
  const useToken = host === 'other' || !p.anon;
  return h.request(m, url, {
    tenant: host === 'own' ? c.a.slug : c.b.slug,
    token: useToken ? (token ?? c.actor.accessToken) : undefined,
    body,
    headers: p.headers?.(c),
  });
}

function leaked(text: string): string[] {
  return bMarkers.filter((m) => text.includes(m));
}

before(async () => {
  h = await startTestSystem({ baseDomain: BASE_DOMAIN });
  A = await buildSide(h, { label: 'a' });
  B = await buildSide(h, { label: 'b', oauth: true });
  bMarkers = markers(B);
  bAdminMails = h.shared.mailer.messages().filter((m) => m.to === B.admin.email).length;
});
after(async () => {
  await h?.close();
});

describe('isolation matrix: two tenants × every endpoint × user, organizer, admin', () => {
  test('the matrix names every endpoint of the merged OpenAPI document, once', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    const rows = MATRIX.map((p) => p.endpoint);
    assert.equal(new Set(rows).size, rows.length, 'a row appears twice');
    const missing = documented.filter((e) => !rows.includes(e));
    const gone = rows.filter((e) => !documented.includes(e));
    assert.deepEqual(missing, [], `endpoints without a row in the isolation matrix (add one to test/src/tenancy/isolation.test.ts): ${missing.join(', ')}`);
    assert.deepEqual(gone, [], `rows for endpoints that no longer exist: ${gone.join(', ')}`);
  });

  test("A's tokens on B's host: 401 invalid_token at every endpoint, for every role (and the default tenant's superadmin)", async () => {
    await assertLive(A);
    const failures: string[] = [];
    const superadminToken = await h.superadminToken();
    for (const role of ROLES) {
      for (const p of MATRIX) {
        const r = await call(p, { a: A, b: B, role, actor: actorOf(A, role) }, 'other');
        if (p.global) {
          if (leaked(r.text).length || markers(A).some((m) => r.text.includes(m))) failures.push(`${role} ${p.endpoint}: a global answer holds tenant data`);
          continue;
        }
        if (r.status !== 401 || r.body?.code !== 'invalid_token') failures.push(`${role} ${p.endpoint}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    for (const p of MATRIX.filter((x) => !x.global)) {
      const r = await call(p, { a: A, b: B, role: 'admin', actor: A.admin }, 'other', superadminToken);
      if (r.status !== 401) failures.push(`superadmin ${p.endpoint}: ${r.status}`);
    }
    assert.deepEqual(failures, []);
    await assertLive(A);
  });

  test("on A's host, B's ids, tokens, codes and credentials get 400/401/403/404 — and no answer of any endpoint holds B's data", async () => {
    await assertLive(A);
    const failures: string[] = [];
    const ordered = [...MATRIX.filter((p) => !p.last), ...MATRIX.filter((p) => p.last)];
    for (const role of ROLES) {
      for (const p of ordered) {
        const c = { a: A, b: B, role, actor: actorOf(A, role) };
        const r = await call(p, c, 'own');
        const where = `${role} ${p.endpoint}`;
        if (r.status >= 500) failures.push(`${where}: ${r.status} ${r.text.slice(0, 200)}`);
        if (p.kind === 'self' && p.ok?.includes(role) && (r.status < 200 || r.status > 299)) {
          failures.push(`${where}: expected a success to read, got ${r.status} ${r.text.slice(0, 200)}`);
        }
        if (p.kind === 'cross') {
          const allowed = Array.isArray(p.expect) ? p.expect : (p.expect?.[role] ?? [403, 404]);
          if (!allowed.includes(r.status)) failures.push(`${where}: expected ${allowed.join('/')}, got ${r.status} ${r.text.slice(0, 200)}`);
        }
        // an error may echo what was sent (a path); a success must hold nothing of B
        if (r.status < 400) {
          const found = leaked(r.text);
          if (found.length) failures.push(`${where}: answer ${r.status} holds B's ${found.join(', ')}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  test('B is untouched: accounts, roles, sessions, MFA, passkey, event, attendance, avatar, provider, mail', async () => {
    const on = { tenant: B.slug };
    // accounts still sign in with their passwords (no reset crossed), keep their roles, are enabled
    const user = await h.login(B.user.email, B.user.password, on);
    const admin = await h.login(B.admin.email, B.admin.password, on);
    const list = await h.request('GET', '/api/v1/admin/users?limit=200', { ...on, token: admin.accessToken });
    assert.equal(list.status, 200);
    const byId = new Map((list.body.items as Array<{ id: string; roles: string[]; disabled: boolean; mfaEnabled: boolean }>).map((u) => [u.id, u]));
    assert.deepEqual(byId.get(B.user.id)?.roles, ['user']);
    assert.equal(byId.get(B.user.id)?.disabled, false);
    assert.deepEqual(byId.get(B.organizer.id)?.roles, ['user', 'organizer'], 'the organizer was neither deleted nor changed');
    assert.equal(byId.get(B.mfaUser.id)?.mfaEnabled, true, 'MFA was neither reset nor disabled');
    // the registration session was not revoked (logout, revoke) and the refresh token was not used
    const session = await h.databases.auth.withTenant(B.tenant.id, (trx) => trx.selectFrom('sessions').select(['revoked_at']).where('id', '=', B.sessionId).executeTakeFirst());
    assert.equal(session?.revoked_at, null);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { ...on, body: { refreshToken: B.user.refreshToken } })).status, 200);
    // the verification token is still unused: it works on B
    assert.equal((await h.request('POST', '/api/v1/auth/email/verify', { ...on, body: { token: B.verifyToken } })).status, 204);
    const passkeys = await h.request('GET', '/api/v1/auth/passkeys', { ...on, token: user.accessToken });
    assert.deepEqual(passkeys.body.items.map((p: { id: string }) => p.id), [B.passkeyId]);
    const identities = await h.databases.auth.withTenant(B.tenant.id, (trx) => trx.selectFrom('oauth_identities').select(['subject', 'user_id']).execute());
    assert.deepEqual(identities, [{ subject: B.identitySubject, user_id: B.user.id }], 'the linked identity was not unlinked');
    const event = await h.request('GET', `/api/v1/events/${B.eventId}`, { ...on, token: user.accessToken });
    assert.equal(event.status, 200);
    assert.equal(event.body.title, 'Event of b');
    const attendance = await h.request('GET', `/api/v1/events/${B.eventId}/attendance`, { ...on, token: admin.accessToken });
    assert.deepEqual(attendance.body.items.map((x: { userId: string }) => x.userId), [B.user.id]);
    const avatar = await h.request('GET', `/api/v1/users/avatars/${B.avatarObject}`, on);
    assert.equal(avatar.status, 200);
    const providers = await h.request('GET', '/api/v1/admin/oauth-providers', { ...on, token: admin.accessToken });
    assert.deepEqual(providers.body.items.map((p: { clientId: string }) => p.clientId), [B.oauthClientId]);
    // the webhook is there as it was, with its one delivery as it was
    const hook = await h.request('GET', `/api/v1/admin/webhooks/${B.webhookId}`, { ...on, token: admin.accessToken });
    assert.equal(hook.status, 200);
    assert.equal(hook.body.disabled, false);
    assert.equal(hook.body.url, `https://hooks-${B.slug}.invalid/in`);
    const deliveries = await h.request('GET', `/api/v1/admin/webhooks/${B.webhookId}/deliveries`, { ...on, token: admin.accessToken });
    assert.deepEqual(deliveries.body.items.map((d: { id: string; status: string; attempt: number }) => [d.id, d.status, d.attempt]), [[B.webhookDeliveryId, 'failed', 0]]);
    // forgot-password on A's host for B's admin mailed nothing (the lookup runs in the background)
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.shared.mailer.messages().filter((m) => m.to === B.admin.email).length, bAdminMails);
    // B's role is as defined, and the email change B's user asked for is still pending (its token works on B)
    const roles = await h.request('GET', '/api/v1/admin/roles', { ...on, token: admin.accessToken });
    assert.deepEqual(roles.body.items.find((r: { name: string }) => r.name === B.roleName)?.permissions, ['b:read']);
    const roster = await h.request('GET', `/api/v1/events/${B.eventId}/roster`, { ...on, token: admin.accessToken });
    assert.deepEqual(roster.body.items, [], 'no roster was set on B\'s event');
    assert.equal(h.shared.mailer.messages().filter((m) => m.to === B.admin.email && m.text.includes('administrator asked for a password reset')).length, 0);
    assert.equal((await h.request('POST', '/api/v1/auth/email/change/confirm', { ...on, body: { token: B.emailChangeToken } })).status, 204);
    // and B's audit trail holds B's entries only
    const audit = await h.request('GET', '/api/v1/audit/events?limit=200', { ...on, token: admin.accessToken });
    assert.ok(audit.body.items.length > 0);
    assert.ok(audit.body.items.every((e: { tenantId: string }) => e.tenantId === B.tenant.id));
    const aMarkers = markers(A).filter((m) => m !== A.slug);
    assert.deepEqual(aMarkers.filter((m) => audit.text.includes(m)), []);
  });

  test("directly at each service (no gateway), A's token with B's tenant in the internal header: 401", async () => {
    // a fresh sign-in: the matrix above ended A's sessions with logout-all
    const fresh = await h.login(A.user.email, A.user.password, { tenant: A.slug });
    assert.equal((await h.direct('users', 'GET', '/api/v1/users/me', { token: fresh.accessToken, headers: { 'x-gatehouse-tenant': A.tenant.id } })).status, 200);
    for (const [service, path] of [
      ['auth', '/api/v1/auth/me'],
      ['users', '/api/v1/users/me'],
      ['audit', '/api/v1/audit/me'],
    ] as const) {
      const r = await h.direct(service, 'GET', path, { token: fresh.accessToken, headers: { 'x-gatehouse-tenant': B.tenant.id } });
      assert.equal(r.status, 401, `${service}: ${r.text}`);
      assert.equal(r.body.code, 'invalid_token');
    }
  });
});
