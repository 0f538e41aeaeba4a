/**
 * Issue 12 in the auth service: custom roles and permissions in tokens (a change effective
 * within a second), admin-created and invited users, admin-sent resets, the admin's own
 * tenant, and self-service username/email changes and account deletion.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { GOOD_PASSWORD, startAuth, uniqueEmail, type Harness } from '../../testing';
import { totpAt } from '../mfa/mfa.totp';

let h: Harness;
let admin: Awaited<ReturnType<Harness['admin']>>;

before(async () => {
  h = await startAuth();
  admin = await h.admin(['admin']);
});
after(async () => {
  await h.close();
});

const A = '/api/v1/admin';
const P = '/api/v1/auth';

async function mailToken(to: string, path: string): Promise<string | undefined> {
  await h.deps.background.idle();
  const mails = h.shared.mailer.messages().filter((m) => m.to === to && m.text.includes(`/${path}?token=`));
  const last = mails[mails.length - 1];
  return last && /token=([A-Za-z0-9_-]+)/.exec(last.text)?.[1];
}

/** Waits up to 1 s for the verifier to reject the token. */
async function rejectedWithin1s(token: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 <= 1000) {
    if (await h.deps.verifier.verify(token).then(() => false, () => true)) return;
    await sleep(20);
  }
  assert.fail('access token still accepted after 1 s');
}

function claims(token: string) {
  return decodeJwt(token) as { roles: string[]; permissions?: string[]; iat: number };
}

describe('custom roles', () => {
  test('create, list, conflict, builtin protection, validation', async () => {
    const name = `editor${Date.now()}`;
    const res = await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name, description: 'edits', permissions: ['posts:write', 'posts:read'] } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json().permissions, ['posts:read', 'posts:write']);
    assert.equal(res.json().builtin, false);
    const dup = await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name, permissions: [] } });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'role_exists');
    assert.equal((await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name: 'admin', permissions: [] } })).json().code, 'role_exists');
    for (const b of ['user', 'organizer', 'admin', 'superadmin']) {
      const p = await h.request('PATCH', `${A}/roles/${b}`, { token: admin.accessToken, body: { permissions: ['x'] } });
      assert.equal(p.statusCode, 409);
      assert.equal(p.json().code, 'role_builtin');
      const d = await h.request('DELETE', `${A}/roles/${b}`, { token: admin.accessToken });
      assert.equal(d.json().code, 'role_builtin');
    }
    const bad = await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name: 'Bad Name', permissions: [] } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');
    const list = (await h.request('GET', `${A}/roles`, { token: admin.accessToken })).json();
    assert.deepEqual(list.items.slice(0, 4).map((r: { name: string }) => r.name), ['user', 'organizer', 'admin', 'superadmin']);
    assert.ok(list.items.some((r: { name: string }) => r.name === name));
    assert.equal((await h.request('PATCH', `${A}/roles/nope${Date.now()}`, { token: admin.accessToken, body: { permissions: [] } })).statusCode, 404);
  });

  test('roles are per tenant: another tenant neither sees nor edits them', async () => {
    const name = `iso${Date.now()}`;
    assert.equal((await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name, permissions: ['a:b'] } })).statusCode, 201);
    const t = await h.createTenant();
    const other = await h.admin(['admin'], t.id);
    const list = (await h.request('GET', `${A}/roles`, { token: other.accessToken, tenant: t.id })).json();
    assert.ok(!list.items.some((r: { name: string }) => r.name === name));
    assert.equal((await h.request('PATCH', `${A}/roles/${name}`, { token: other.accessToken, tenant: t.id, body: { permissions: [] } })).statusCode, 404);
    assert.equal((await h.request('DELETE', `${A}/roles/${name}`, { token: other.accessToken, tenant: t.id })).statusCode, 404);
    // and the role cannot be assigned there
    const u = await h.register({ tenant: t.id });
    const p = await h.request('PATCH', `${A}/users/${u.userId}`, { token: other.accessToken, tenant: t.id, body: { roles: ['user', name] } });
    assert.equal(p.statusCode, 400);
  });

  test('assigning a role cuts the user\'s tokens within 1 s; the next token carries roles and permissions', async () => {
    const name = `rep${Date.now()}`;
    await h.request('POST', `${A}/roles`, { token: admin.accessToken, body: { name, permissions: ['reports:read'] } });
    const u = await h.register();
    assert.deepEqual(claims(u.accessToken).permissions, []);
    const res = await h.request('PATCH', `${A}/users/${u.userId}`, { token: admin.accessToken, body: { roles: ['user', name] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().roles, ['user', name]);
    await rejectedWithin1s(u.accessToken);
    // refreshed at once (same second as the cut): the new token is valid and carries the role
    const r = await h.request('POST', `${P}/refresh`, { body: { refreshToken: u.refreshToken } });
    assert.equal(r.statusCode, 200);
    const next = r.json();
    assert.deepEqual(claims(next.accessToken).roles, ['user', name]);
    assert.deepEqual(claims(next.accessToken).permissions, ['reports:read']);
    await h.deps.verifier.verify(next.accessToken);
    assert.equal((await h.request('GET', `${P}/me`, { token: next.accessToken })).statusCode, 200);

    // editing the role's permissions cuts the holder's tokens too
    assert.equal((await h.request('PATCH', `${A}/roles/${name}`, { token: admin.accessToken, body: { permissions: ['reports:read', 'reports:export'] } })).statusCode, 200);
    await rejectedWithin1s(next.accessToken);
    const r2 = (await h.request('POST', `${P}/refresh`, { body: { refreshToken: next.refreshToken } })).json();
    assert.deepEqual(claims(r2.accessToken).permissions, ['reports:export', 'reports:read']);

    // deleting it takes it away from the holder
    assert.equal((await h.request('DELETE', `${A}/roles/${name}`, { token: admin.accessToken })).statusCode, 204);
    await rejectedWithin1s(r2.accessToken);
    const r3 = (await h.request('POST', `${P}/refresh`, { body: { refreshToken: r2.refreshToken } })).json();
    assert.deepEqual(claims(r3.accessToken).roles, ['user']);
    assert.deepEqual(claims(r3.accessToken).permissions, []);
    const user = (await h.request('GET', `${A}/users/${u.userId}`, { token: admin.accessToken })).json();
    assert.deepEqual(user.roles, ['user']);
  });

  test('assigning an unknown role is 400', async () => {
    const u = await h.register();
    const res = await h.request('PATCH', `${A}/users/${u.userId}`, { token: admin.accessToken, body: { roles: ['user', 'ghost-role'] } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'validation_failed');
  });
});

describe('admin-created users', () => {
  test('with a password: signs in at once; a duplicate email is 409 email_taken', async () => {
    const email = uniqueEmail('made');
    const res = await h.request('POST', `${A}/users`, { token: admin.accessToken, body: { email, password: GOOD_PASSWORD, roles: ['organizer'], displayName: 'Made' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json().roles, ['user', 'organizer']);
    const login = await h.request('POST', `${P}/login`, { body: { email, password: GOOD_PASSWORD } });
    assert.equal(login.statusCode, 200);
    const dup = await h.request('POST', `${A}/users`, { token: admin.accessToken, body: { email: email.toUpperCase() } });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'email_taken');
    const weak = await h.request('POST', `${A}/users`, { token: admin.accessToken, body: { email: uniqueEmail(), password: 'password' } });
    assert.equal(weak.json().code, 'weak_password');
    // only a superadmin grants superadmin
    assert.equal((await h.request('POST', `${A}/users`, { token: admin.accessToken, body: { email: uniqueEmail(), roles: ['superadmin'] } })).statusCode, 403);
  });

  test('by invitation: a set-password link (72 h, once) by email, then sign-in', async () => {
    const email = uniqueEmail('invited');
    const res = await h.request('POST', `${A}/users`, { token: admin.accessToken, body: { email } });
    assert.equal(res.statusCode, 201, res.body);
    // no password yet: sign-in fails like a wrong password
    assert.equal((await h.request('POST', `${P}/login`, { body: { email, password: GOOD_PASSWORD } })).statusCode, 401);
    const token = await mailToken(email, 'reset-password');
    assert.ok(token, 'invitation mailed');
    const row = await h.deps.db.admin.selectFrom('one_time_tokens').select(['expires_at', 'created_at']).where('user_id', '=', res.json().id).executeTakeFirstOrThrow();
    const hours = (new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()) / 3600_000;
    assert.ok(Math.abs(hours - 72) < 0.01, `72 h, got ${hours}`);
    assert.equal((await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: GOOD_PASSWORD } })).statusCode, 204);
    assert.equal((await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: GOOD_PASSWORD } })).statusCode, 400, 'single use');
    const login = await h.request('POST', `${P}/login`, { body: { email, password: GOOD_PASSWORD } });
    assert.equal(login.statusCode, 200);
    assert.equal(login.json().user.emailVerified, true);
    assert.ok((await h.outbox()).some((o) => o.subject === 'auth.events.user_invited'));
  });

  test('admin-sent password reset: 202 and a reset email; 404 for another tenant\'s user', async () => {
    const u = await h.register();
    const res = await h.request('POST', `${A}/users/${u.userId}/password-reset`, { token: admin.accessToken });
    assert.equal(res.statusCode, 202, res.body);
    const token = await mailToken(u.email, 'reset-password');
    assert.ok(token);
    assert.equal((await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: 'another fine passphrase 9' } })).statusCode, 204);
    const t = await h.createTenant();
    const foreign = await h.register({ tenant: t.id });
    assert.equal((await h.request('POST', `${A}/users/${foreign.userId}/password-reset`, { token: admin.accessToken })).statusCode, 404);
  });
});

describe('the admin\'s own tenant', () => {
  test('GET and PATCH /admin/tenant: name and settings, never the status', async () => {
    const t = await h.createTenant();
    const a = await h.admin(['admin'], t.id);
    const got = await h.request('GET', `${A}/tenant`, { token: a.accessToken, tenant: t.id });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().id, t.id);
    const patched = await h.request('PATCH', `${A}/tenant`, { token: a.accessToken, tenant: t.id, body: { name: 'Renamed', settings: { passwordMinLength: 12 } } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json().name, 'Renamed');
    assert.equal(patched.json().settings.passwordMinLength, 12);
    assert.equal((await h.request('PATCH', `${A}/tenant`, { token: a.accessToken, tenant: t.id, body: { status: 'disabled' } })).statusCode, 400);
    const u = await h.register({ tenant: t.id });
    assert.equal((await h.request('GET', `${A}/tenant`, { token: u.accessToken, tenant: t.id })).statusCode, 403);
  });
});

describe('self-service', () => {
  test('PATCH /me: username and display name; 409 username_taken', async () => {
    const taken = `taken${Date.now()}`;
    await h.register({ username: taken });
    const u = await h.register();
    const res = await h.request('PATCH', `${P}/me`, { token: u.accessToken, body: { username: `me${Date.now()}`, displayName: 'Me Myself' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().displayName, 'Me Myself');
    const dup = await h.request('PATCH', `${P}/me`, { token: u.accessToken, body: { username: taken.toUpperCase() } });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'username_taken');
  });

  test('email change: link to the new address, notice to the old; confirm; errors', async () => {
    const u = await h.register();
    const other = await h.register();
    const newEmail = uniqueEmail('moved');
    const wrong = await h.request('POST', `${P}/email/change`, { token: u.accessToken, body: { newEmail, password: 'not the password' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    const taken = await h.request('POST', `${P}/email/change`, { token: u.accessToken, body: { newEmail: other.email, password: u.password } });
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().code, 'email_taken');
    const res = await h.request('POST', `${P}/email/change`, { token: u.accessToken, body: { newEmail, password: u.password } });
    assert.equal(res.statusCode, 202);
    const token = await mailToken(newEmail, 'confirm-email');
    assert.ok(token, 'link to the new address');
    assert.ok(h.shared.mailer.messages().some((m) => m.to === u.email && m.text.includes(newEmail)), 'notice to the old address');
    assert.equal((await h.request('GET', `${P}/me`, { token: u.accessToken })).json().email, u.email, 'nothing changes before confirmation');
    assert.equal((await h.request('POST', `${P}/email/change/confirm`, { body: { token: 'bogus' } })).json().code, 'invalid_token');
    assert.equal((await h.request('POST', `${P}/email/change/confirm`, { body: { token } })).statusCode, 204);
    assert.equal((await h.request('POST', `${P}/email/change/confirm`, { body: { token } })).statusCode, 400, 'single use');
    const me = (await h.request('GET', `${P}/me`, { token: u.accessToken })).json();
    assert.equal(me.email, newEmail);
    assert.equal(me.emailVerified, true);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: newEmail, password: u.password } })).statusCode, 200);
  });

  test('DELETE /me: password checked; sessions revoked; user.events.deleted', async () => {
    const u = await h.register();
    const wrong = await h.request('DELETE', `${P}/me`, { token: u.accessToken, body: { password: 'nope nope nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    // no password and no fresh second factor: refused
    assert.equal((await h.request('DELETE', `${P}/me`, { token: u.accessToken, body: {} })).statusCode, 401);
    const res = await h.request('DELETE', `${P}/me`, { token: u.accessToken, body: { password: u.password } });
    assert.equal(res.statusCode, 204, res.body);
    await rejectedWithin1s(u.accessToken);
    assert.equal((await h.request('POST', `${P}/refresh`, { body: { refreshToken: u.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: u.email, password: u.password } })).statusCode, 401);
    const deleted = (await h.outbox()).filter((o) => o.subject === 'user.events.deleted' && o.event.data.id === u.userId);
    assert.equal(deleted.length, 1);
    // the address is free again
    assert.equal((await h.request('POST', `${P}/register`, { body: { email: u.email, password: GOOD_PASSWORD } })).statusCode, 201);
  });
});

describe('account deletion by a fresh second factor', () => {
  test('no password: a sign-in with TOTP in the last 5 minutes confirms; a password-only session does not; no body at all is the same', async () => {
    const u = await h.register();
    const setup = (await h.request('POST', `${P}/mfa/totp/setup`, { token: u.accessToken })).json();
    assert.equal((await h.request('POST', `${P}/mfa/totp/confirm`, { token: u.accessToken, body: { code: totpAt(setup.secret, Date.now()) } })).statusCode, 200);
    // the registration session is password-only: not a second factor
    const refused = await h.request('DELETE', `${P}/me`, { token: u.accessToken });
    assert.equal(refused.statusCode, 401, refused.body);
    assert.equal(refused.json().code, 'invalid_credentials');
    const first = (await h.request('POST', `${P}/login`, { body: { email: u.email, password: u.password } })).json();
    assert.ok(first.mfaToken);
    const second = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: first.mfaToken, code: totpAt(setup.secret, Date.now() + 30_000) } });
    assert.equal(second.statusCode, 200, second.body);
    const res = await h.request('DELETE', `${P}/me`, { token: second.json().accessToken, body: {} });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: u.email, password: u.password } })).statusCode, 401);
  });
});

describe('admin user list filters', () => {
  test('role, status and verified narrow the list', async () => {
    const t = await h.createTenant();
    const a = await h.admin(['admin'], t.id);
    const opts = { token: a.accessToken, tenant: t.id };
    const org = await h.request('POST', `${A}/users`, { ...opts, body: { email: uniqueEmail('f-org'), password: GOOD_PASSWORD, roles: ['organizer'] } });
    const plain = await h.request('POST', `${A}/users`, { ...opts, body: { email: uniqueEmail('f-plain'), password: GOOD_PASSWORD } });
    await h.request('PATCH', `${A}/users/${plain.json().id}`, { ...opts, body: { disabled: true, emailVerified: true } });
    const ids = async (query: Record<string, string>) =>
      ((await h.request('GET', `${A}/users`, { ...opts, query })).json().items as Array<{ id: string }>).map((u) => u.id).sort();
    assert.deepEqual(await ids({ role: 'organizer' }), [org.json().id]);
    assert.deepEqual(await ids({ status: 'disabled' }), [plain.json().id]);
    assert.deepEqual(await ids({ verified: 'true' }), [plain.json().id]);
    assert.deepEqual(await ids({ verified: 'false', status: 'active' }), [a.user.id, org.json().id].sort());
    assert.equal((await h.request('GET', `${A}/users`, { ...opts, query: { status: 'gone' } })).statusCode, 400);
  });
});
