/**
 * The rows of the isolation matrix (isolation.test.ts; test-only module): one probe per endpoint
 * of the merged OpenAPI document, saying what a request of tenant A naming tenant B's data must
 * get. An endpoint added without a row here fails the matrix's first test.
 */
import { randomUUID } from 'node:crypto';
import { multipart, pngImage } from '@gatehouse/users/testing';
import { PASSWORD, uniqueEmail, type Account, type TestSystem } from '../system';
import { totp, type Side } from './fixtures';

export type Role = 'user' | 'organizer' | 'admin';
export const ROLES: Role[] = ['user', 'organizer', 'admin'];

export interface Ctx {
  /** the system the probes run on */
  h: TestSystem;
  a: Side;
  b: Side;
  role: Role;
  actor: Account;
}

/** One row of the matrix. */
export interface Probe {
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

export const MATRIX: Probe[] = [
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
async function qrTokenOf({ h, a, actor }: Ctx): Promise<string> {
  const r = await h.request('GET', '/api/v1/users/me/qr/token', { tenant: a.slug, token: actor.accessToken });
  if (r.status !== 200) throw new Error(`qr token: ${r.status} ${r.text}`);
  return r.body.token as string;
}

/** A syntactically valid WebAuthn credential that no authenticator made. */
function fakeCredential() {
  return { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
}
