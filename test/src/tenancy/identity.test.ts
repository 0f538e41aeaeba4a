/**
 * Identity per tenant: one e-mail address can be two different people in two tenants, with
 * separate passwords, sessions, throttling counters, password resets and audit entries.
 * Black-box through the gateway, by Host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, PASSWORD, BASE_DOMAIN, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../system';
import { mailedToken } from './fixtures';

/** Consecutive failures that lock an account in this file (THROTTLE_ACCOUNT_MAX_FAILURES). */
const LOCK_AFTER = 3;

let h: TestSystem;
let red: Awaited<ReturnType<TestSystem['createTenant']>>;
let blue: Awaited<ReturnType<TestSystem['createTenant']>>;
const email = uniqueEmail('same-person');
const redPassword = `${PASSWORD} red`;
const bluePassword = `${PASSWORD} blue`;
let inRed: Account;
let inBlue: Account;

before(async () => {
  h = await startTestSystem({ baseDomain: BASE_DOMAIN, env: { THROTTLE_ACCOUNT_MAX_FAILURES: String(LOCK_AFTER) } });
  red = await h.createTenant();
  blue = await h.createTenant();
  inRed = await h.register({ tenant: red.slug, email, password: redPassword, username: 'samename' });
  inBlue = await h.register({ tenant: blue.slug, email, password: bluePassword, username: 'samename' });
});
after(async () => {
  await h?.close();
});

describe('the same e-mail in two tenants', () => {
  test('registers twice (and the same username too): two different users, each in its tenant', async () => {
    assert.notEqual(inRed.id, inBlue.id);
    const a = await h.request('GET', '/api/v1/auth/me', { tenant: red.slug, token: inRed.accessToken });
    const b = await h.request('GET', '/api/v1/auth/me', { tenant: blue.slug, token: inBlue.accessToken });
    assert.equal(a.body.tenantId, red.id);
    assert.equal(b.body.tenantId, blue.id);
    assert.equal(a.body.email, b.body.email);
    // a second registration inside one tenant is still refused
    const again = await h.request('POST', '/api/v1/auth/register', { tenant: red.slug, body: { email, password: PASSWORD } });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'email_taken');
  });

  test("separate passwords: red's password does not open blue, and the other way round", async () => {
    for (const [tenant, password] of [
      [red.slug, bluePassword],
      [blue.slug, redPassword],
    ] as const) {
      const r = await h.request('POST', '/api/v1/auth/login', { tenant, body: { email, password } });
      assert.equal(r.status, 401, tenant);
      assert.equal(r.body.code, 'invalid_credentials');
    }
    const ok = await h.login(email, redPassword, { tenant: red.slug });
    assert.equal(ok.id, inRed.id);
  });

  test("a login in one tenant does not open the other: its access and refresh tokens are refused on the other tenant's host", async () => {
    const session = await h.login(email, redPassword, { tenant: red.slug });
    for (const path of ['/api/v1/auth/me', '/api/v1/users/me', '/api/v1/audit/me', '/api/v1/auth/sessions']) {
      const r = await h.request('GET', path, { tenant: blue.slug, token: session.accessToken });
      assert.equal(r.status, 401, path);
      assert.equal(r.body.code, 'invalid_token');
    }
    const refresh = await h.request('POST', '/api/v1/auth/refresh', { tenant: blue.slug, body: { refreshToken: session.refreshToken } });
    assert.equal(refresh.status, 401);
    assert.equal(refresh.body.code, 'invalid_refresh_token');
    // and it did not use the refresh token up: it still works on its own tenant
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { tenant: red.slug, body: { refreshToken: session.refreshToken } })).status, 200);
  });

  test('separate sessions: signing out everywhere in red leaves blue signed in', async () => {
    const r1 = await h.login(email, redPassword, { tenant: red.slug });
    const b1 = await h.login(email, bluePassword, { tenant: blue.slug });
    assert.equal((await h.request('POST', '/api/v1/auth/logout-all', { tenant: red.slug, token: r1.accessToken, body: {} })).status, 204);
    await eventually(async () => assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: red.slug, token: r1.accessToken })).status, 401), 2000);
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: blue.slug, token: b1.accessToken })).status, 200);
    const sessions = await h.request('GET', '/api/v1/auth/sessions', { tenant: blue.slug, token: b1.accessToken });
    assert.ok(sessions.body.items.length >= 2, 'blue keeps its sessions');
  });

  test('separate throttling counters: locking the address in red leaves blue open', async () => {
    for (let i = 0; i < LOCK_AFTER; i++) {
      const r = await h.request('POST', '/api/v1/auth/login', { tenant: red.slug, body: { email, password: `wrong ${i}` } });
      assert.equal(r.status, 401);
    }
    const locked = await h.request('POST', '/api/v1/auth/login', { tenant: red.slug, body: { email, password: redPassword } });
    assert.equal(locked.status, 429);
    assert.equal(locked.body.code, 'too_many_attempts');
    const open = await h.request('POST', '/api/v1/auth/login', { tenant: blue.slug, body: { email, password: bluePassword } });
    assert.equal(open.status, 200, open.text);
  });

  test("separate resets: blue's reset link changes blue's password only, and does nothing on red", async () => {
    assert.equal((await h.request('POST', '/api/v1/auth/password/forgot', { tenant: blue.slug, body: { email } })).status, 202);
    const token = await eventually(() => mailedToken(h, email, '/reset-password'));
    const onRed = await h.request('POST', '/api/v1/auth/password/reset', { tenant: red.slug, body: { token, newPassword: `${PASSWORD} new blue` } });
    assert.equal(onRed.status, 400);
    assert.equal(onRed.body.code, 'invalid_token');
    const onBlue = await h.request('POST', '/api/v1/auth/password/reset', { tenant: blue.slug, body: { token, newPassword: `${PASSWORD} new blue` } });
    assert.equal(onBlue.status, 204, onBlue.text);
    assert.equal((await h.login(email, `${PASSWORD} new blue`, { tenant: blue.slug })).id, inBlue.id);
    const red401 = await h.request('POST', '/api/v1/auth/login', { tenant: red.slug, body: { email, password: `${PASSWORD} new blue` } });
    assert.notEqual(red401.status, 200, "red's password is unchanged");
  });

  test("separate audit entries: each tenant's admin sees its own user's logins and failures, never the other's", async () => {
    for (const [t, mine, theirs] of [
      [red, inRed.id, inBlue.id],
      [blue, inBlue.id, inRed.id],
    ] as const) {
      const entries = await eventually(async () => {
        const r = await h.request('GET', `/api/v1/audit/events?actorId=${mine}&limit=200`, { tenant: t.slug, token: t.admin!.accessToken });
        assert.equal(r.status, 200);
        assert.ok(r.body.items.some((e: { type: string }) => e.type === 'auth.events.login_succeeded'), 'own logins are recorded');
        return r;
      });
      assert.ok(entries.body.items.every((e: { tenantId: string }) => e.tenantId === t.id));
      const other = await h.request('GET', `/api/v1/audit/events?actorId=${theirs}&limit=200`, { tenant: t.slug, token: t.admin!.accessToken });
      assert.deepEqual(other.body.items, [], "the other tenant's user is not in this trail");
    }
    // red's failed logins (the lock above) are in red's trail only
    const failures = async (t: typeof red, userId: string) =>
      (await h.request('GET', `/api/v1/audit/events?type=auth.events.login_failed&actorId=${userId}&limit=200`, { tenant: t.slug, token: t.admin!.accessToken })).body.items
        .length as number;
    await eventually(async () => assert.ok((await failures(red, inRed.id)) >= LOCK_AFTER));
    assert.equal(await failures(blue, inBlue.id), 1, "blue's only failure is the crossed-password attempt");
  });
});
