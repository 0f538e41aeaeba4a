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
 * in the matrix (matrix.ts) fails the first test, so the matrix stays complete.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_DOMAIN, startTestSystem, type Account, type TestSystem, type Reply } from '../system';
import { buildSide, markers, type Side } from './fixtures';
import { MATRIX, ROLES, type Ctx, type Probe, type Role } from './matrix';

/** Fails unless every role's access token of `s` still works: a probe must not pass because a token died. */
async function assertLive(s: Side): Promise<void> {
  for (const role of ROLES) {
    const r = await h.request('GET', '/api/v1/auth/me', { tenant: s.slug, token: s[role].accessToken });
    assert.equal(r.status, 200, `${role} of ${s.slug} must still be signed in: ${r.text}`);
  }
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
    assert.deepEqual(missing, [], `endpoints without a row in the isolation matrix (add one to test/src/tenancy/matrix.ts): ${missing.join(', ')}`);
    assert.deepEqual(gone, [], `rows for endpoints that no longer exist: ${gone.join(', ')}`);
  });

  test("A's tokens on B's host: 401 invalid_token at every endpoint, for every role (and the default tenant's superadmin)", async () => {
    await assertLive(A);
    const failures: string[] = [];
    const superadminToken = await h.superadminToken();
    for (const role of ROLES) {
      for (const p of MATRIX) {
        const r = await call(p, { h, a: A, b: B, role, actor: actorOf(A, role) }, 'other');
        if (p.global) {
          if (leaked(r.text).length || markers(A).some((m) => r.text.includes(m))) failures.push(`${role} ${p.endpoint}: a global answer holds tenant data`);
          continue;
        }
        if (r.status !== 401 || r.body?.code !== 'invalid_token') failures.push(`${role} ${p.endpoint}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    for (const p of MATRIX.filter((x) => !x.global)) {
      const r = await call(p, { h, a: A, b: B, role: 'admin', actor: A.admin }, 'other', superadminToken);
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
        const c = { h, a: A, b: B, role, actor: actorOf(A, role) };
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
