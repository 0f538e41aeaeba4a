import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { URI } from 'otpauth';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startAuth, uniqueIp, type Harness } from '../../testing';
import { matchTotp, totpAt } from './mfa.totp';

let h: Harness;
before(async () => {
  h = await startAuth();
});
after(async () => {
  await h.close();
});

const P = '/api/v1/auth';
type Registered = Awaited<ReturnType<Harness['register']>>;

/** The code of `secret` k steps from now (successive logins need later steps: a code works once). */
const codeAt = (secret: string, k: number) => totpAt(secret, Date.now() + k * 30_000);

/** Sets up and confirms TOTP for a registered user. */
async function enroll(r: Registered) {
  const setup = await h.request('POST', `${P}/mfa/totp/setup`, { token: r.accessToken });
  assert.equal(setup.statusCode, 200, setup.body);
  const { secret } = setup.json();
  const confirm = await h.request('POST', `${P}/mfa/totp/confirm`, { token: r.accessToken, body: { code: codeAt(secret, 0) } });
  assert.equal(confirm.statusCode, 200, confirm.body);
  return { secret: secret as string, backupCodes: confirm.json().backupCodes as string[], setup: setup.json() };
}

async function passwordLogin(r: Registered, o: { tenant?: string; ip?: string } = {}) {
  const res = await h.request('POST', `${P}/login`, { body: { email: r.email, password: r.password }, tenant: o.tenant, ip: o.ip });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

describe('TOTP code path: RFC vectors', () => {
  // secret ASCII "12345678901234567890" (RFC 4226 Appendix D, RFC 6238 Appendix B SHA-1)
  const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

  test('RFC 4226 HOTP vectors, counters 0-9, are the codes of time steps 0-9; each step matches itself', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    expected.forEach((code, counter) => {
      const t = counter * 30_000;
      assert.equal(totpAt(SECRET, t), code, `counter ${counter}`);
      assert.equal(matchTotp(SECRET, code, t + 29_999), counter);
    });
  });

  test('RFC 6238 Appendix B SHA-1 (8 digits) at T = 59, 1111111109, 1234567890, 2000000000, 20000000000', () => {
    const vectors: Array<[number, string]> = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [t, code] of vectors) {
      assert.equal(totpAt(SECRET, t * 1000, { digits: 8 }), code, `T=${t}`);
      assert.equal(matchTotp(SECRET, code, t * 1000, { digits: 8 }), Math.floor(t / 30), `T=${t} matches its own step`);
    }
  });

  test('±1 step only: codes two steps away, wrong lengths and non-digits are refused', () => {
    const t = 1_700_000_000_000;
    const code = totpAt(SECRET, t);
    assert.equal(matchTotp(SECRET, code, t + 30_000), Math.floor(t / 30_000), 'one step late is accepted');
    assert.equal(matchTotp(SECRET, code, t - 30_000), Math.floor(t / 30_000), 'one step early is accepted');
    assert.equal(matchTotp(SECRET, code, t + 60_000), undefined, 'two steps late is refused');
    assert.equal(matchTotp(SECRET, code, t - 60_000), undefined, 'two steps early is refused');
    for (const bad of [code.slice(1), `${code}0`, ` ${code.slice(1)}`, 'abcdef', '']) assert.equal(matchTotp(SECRET, bad, t), undefined, bad);
  });
});

describe('TOTP enrollment', () => {
  test('setup: a 160-bit secret, an otpauth URI (SHA1, 6 digits, 30 s) and an SVG QR code; confirm enables it with 10 distinct backup codes', async () => {
    const r = await h.register();
    const { secret, backupCodes, setup } = await enroll(r);
    assert.ok(Buffer.byteLength(secret) >= 32, 'base32 of at least 160 bits');
    const otp = URI.parse(setup.otpauthUri);
    assert.equal(otp.secret.base32, secret);
    assert.deepEqual([otp.algorithm, otp.digits, (otp as { period?: number }).period], ['SHA1', 6, 30]);
    assert.match(setup.otpauthUri, /^otpauth:\/\/totp\//);
    assert.match(setup.qrCodeSvg, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.equal(backupCodes.length, 10);
    assert.equal(new Set(backupCodes).size, 10);
    for (const c of backupCodes) assert.match(c, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/, '60 bits each');
    const me = await h.request('GET', `${P}/me`, { token: r.accessToken });
    assert.equal(me.json().mfaEnabled, true);
    const events = (await h.outbox()).filter((e) => e.subject === 'auth.events.mfa_enabled' && e.event.subject === r.userId);
    assert.equal(events.length, 1);
    const text = JSON.stringify(events);
    assert.ok(!text.includes(secret) && !backupCodes.some((c) => text.includes(c)), 'no secret or code in the event');
    const stored = await h.deps.db.admin.selectFrom('mfa_totp').selectAll().where('user_id', '=', r.userId).executeTakeFirstOrThrow();
    assert.ok(!String(stored.secret_sealed).includes(secret), 'the secret is stored sealed');
    const codes = await h.deps.db.admin.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', r.userId).execute();
    assert.equal(codes.length, 10);
    assert.ok(!codes.some((c) => backupCodes.some((b) => String(c.code_hash).includes(b.replace(/-/g, '')))), 'codes stored hashed');
  });

  test('confirm: a wrong code is 400 invalid_mfa_code; confirm before setup 409; setup again once enabled 409', async () => {
    const r = await h.register();
    const early = await h.request('POST', `${P}/mfa/totp/confirm`, { token: r.accessToken, body: { code: '123456' } });
    assert.equal(early.statusCode, 409);
    const setup = (await h.request('POST', `${P}/mfa/totp/setup`, { token: r.accessToken })).json();
    const wrongCode = codeAt(setup.secret, 0) === '000000' ? '111111' : '000000';
    const wrong = await h.request('POST', `${P}/mfa/totp/confirm`, { token: r.accessToken, body: { code: wrongCode } });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().code, 'invalid_mfa_code');
    const ok = await h.request('POST', `${P}/mfa/totp/confirm`, { token: r.accessToken, body: { code: codeAt(setup.secret, 0) } });
    assert.equal(ok.statusCode, 200);
    const again = await h.request('POST', `${P}/mfa/totp/setup`, { token: r.accessToken });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'mfa_already_enabled');
    const anon = await h.request('POST', `${P}/mfa/totp/setup`);
    assert.equal(anon.statusCode, 401);
  });
});

describe('login with a second factor', () => {
  test('an MFA user logging in with the password alone never gets tokens (body or cookie mode); the code completes it with amr pwd+otp', async () => {
    const r = await h.register();
    const { secret } = await enroll(r);
    for (const query of [undefined, { mode: 'cookie' }]) {
      const res = await h.request('POST', `${P}/login`, { query, body: { email: r.email, password: r.password } });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.mfaRequired, true);
      assert.deepEqual(body.methods, ['totp', 'backup_code']);
      assert.equal(body.accessToken, undefined);
      assert.equal(body.refreshToken, undefined);
      assert.equal(res.cookies.length, 0, 'no refresh cookie either');
      assert.ok(!body.mfaToken.includes('.'), 'the mfaToken is opaque, not a JWT');
      const me = await h.request('GET', `${P}/me`, { token: body.mfaToken });
      assert.equal(me.statusCode, 401, 'an mfaToken is never an access token');
    }
    const login = await passwordLogin(r);
    const done = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken, code: codeAt(secret, 1) } });
    assert.equal(done.statusCode, 200, done.body);
    assert.deepEqual(decodeJwt(done.json().accessToken).amr, ['pwd', 'otp']);
    assert.equal(done.json().user.mfaEnabled, true);
    const ev = (await h.outbox()).filter((e) => e.subject === 'auth.events.login_succeeded' && e.event.subject === r.userId).pop();
    assert.equal(ev?.event.data.method, 'password+totp');
    const reused = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken, code: codeAt(secret, 2) } });
    assert.equal(reused.statusCode, 401);
    assert.equal(reused.json().code, 'invalid_mfa_token', 'the mfaToken is single use');
  });

  test('a used code is rejected (replay), also when 10 copies arrive at once with 10 different mfaTokens: one success', async () => {
    const r = await h.register();
    const { secret } = await enroll(r);
    const first = await passwordLogin(r);
    const code = codeAt(secret, 1);
    assert.equal((await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: first.mfaToken, code } })).statusCode, 200);
    const second = await passwordLogin(r);
    const replay = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: second.mfaToken, code } });
    assert.equal(replay.statusCode, 401);
    assert.equal(replay.json().code, 'invalid_mfa_code');

    const r2 = await h.register();
    const e2 = await enroll(r2);
    const logins = [];
    for (let i = 0; i < 10; i++) logins.push(await passwordLogin(r2));
    const parallel = codeAt(e2.secret, 1);
    const results = await Promise.all(logins.map((l) => h.request('POST', `${P}/login/mfa`, { body: { mfaToken: l.mfaToken, code: parallel } })));
    const statuses = results.map((x) => x.statusCode);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses.join(',')}`);
    for (const x of results.filter((y) => y.statusCode !== 200)) assert.equal(x.json().code, 'invalid_mfa_code');

    // and 10 copies of one request (same mfaToken, same code): one session, not ten
    const r3 = await h.register();
    const e3 = await enroll(r3);
    const one = await passwordLogin(r3);
    const same = await Promise.all(
      Array.from({ length: 10 }, () => h.request('POST', `${P}/login/mfa`, { body: { mfaToken: one.mfaToken, code: codeAt(e3.secret, 1) } })),
    );
    assert.equal(same.filter((x) => x.statusCode === 200).length, 1, `statuses: ${same.map((x) => x.statusCode).join(',')}`);
    const sessions = await h.deps.db.admin.selectFrom('sessions').select('id').where('user_id', '=', r3.userId).execute();
    assert.equal(sessions.length, 2, 'the registration session and one MFA login');
  });

  test('a wrong code: 401 invalid_mfa_code; garbage or foreign-tenant mfaToken: 401 invalid_mfa_token; a missing field: 400', async () => {
    const r = await h.register();
    const { secret } = await enroll(r);
    const login = await passwordLogin(r);
    const right = codeAt(secret, 1);
    const wrong = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken, code: right === '000000' ? '000001' : '000000' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_mfa_code');
    const t = await h.createTenant();
    const foreign = await h.request('POST', `${P}/login/mfa`, { tenant: t.id, body: { mfaToken: login.mfaToken, code: right } });
    assert.equal(foreign.statusCode, 401);
    assert.equal(foreign.json().code, 'invalid_mfa_token');
    const garbage = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: 'mfa_nope', code: right } });
    assert.equal(garbage.json().code, 'invalid_mfa_token');
    const missing = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken } });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, 'validation_failed');
    // after all that the genuine code still works with the same token
    const ok = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken, code: right } });
    assert.equal(ok.statusCode, 200);
  });

  test('MFA attempts are throttled per user like passwords: after 10 failures even the right code gets 429 too_many_attempts', async () => {
    const r = await h.register();
    const { secret } = await enroll(r);
    const ip = uniqueIp();
    const right = codeAt(secret, 1);
    const wrongCode = right === '999999' ? '999998' : '999999';
    let token = '';
    for (let i = 0; i < 10; i++) {
      // a fresh mfaToken every other attempt: the lock is per user, not per token
      if (i % 2 === 0) token = (await passwordLogin(r, { ip })).mfaToken;
      const res = await h.request('POST', `${P}/login/mfa`, { ip, body: { mfaToken: token, code: wrongCode } });
      assert.equal(res.statusCode, 401, `attempt ${i + 1}`);
    }
    const fresh = await passwordLogin(r, { ip });
    const locked = await h.request('POST', `${P}/login/mfa`, { ip, body: { mfaToken: fresh.mfaToken, code: right } });
    assert.equal(locked.statusCode, 429);
    assert.equal(locked.json().code, 'too_many_attempts');
    assert.ok(Number(locked.headers['retry-after']) > 0);
    const other = await h.request('POST', `${P}/login/mfa`, { ip: uniqueIp(), body: { mfaToken: fresh.mfaToken, code: right } });
    assert.equal(other.statusCode, 429, 'another IP does not lift the per-user lock');
  });
});

describe('backup codes', () => {
  test('each code works once (any case, without dashes); amr includes otp', async () => {
    const r = await h.register();
    const { backupCodes } = await enroll(r);
    for (const [i, code] of backupCodes.slice(0, 3).entries()) {
      const login = await passwordLogin(r);
      const typed = i === 1 ? code.toLowerCase().replace(/-/g, '') : code;
      const ok = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.mfaToken, backupCode: typed } });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(decodeJwt(ok.json().accessToken).amr, ['pwd', 'otp']);
      const again = await passwordLogin(r);
      const reused = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: again.mfaToken, backupCode: code } });
      assert.equal(reused.statusCode, 401);
      assert.equal(reused.json().code, 'invalid_mfa_code');
    }
  });

  test('10 parallel uses of one code (10 mfaTokens): exactly one success', async () => {
    const r = await h.register();
    const { backupCodes } = await enroll(r);
    const logins = [];
    for (let i = 0; i < 10; i++) logins.push(await passwordLogin(r));
    const results = await Promise.all(logins.map((l) => h.request('POST', `${P}/login/mfa`, { body: { mfaToken: l.mfaToken, backupCode: backupCodes[0] } })));
    const statuses = results.map((x) => x.statusCode);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses.join(',')}`);
  });

  test('regenerating needs the password and voids the old set', async () => {
    const r = await h.register();
    const { backupCodes: old } = await enroll(r);
    const wrong = await h.request('POST', `${P}/mfa/backup-codes`, { token: r.accessToken, body: { password: 'not my password' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    const res = await h.request('POST', `${P}/mfa/backup-codes`, { token: r.accessToken, body: { password: r.password } });
    assert.equal(res.statusCode, 200);
    const fresh = res.json().backupCodes as string[];
    assert.equal(fresh.length, 10);
    const l1 = await passwordLogin(r);
    const stale = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: l1.mfaToken, backupCode: old[1] } });
    assert.equal(stale.statusCode, 401, 'an old code is void');
    const ok = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: l1.mfaToken, backupCode: fresh[0] } });
    assert.equal(ok.statusCode, 200);
    const none = await h.register();
    const notEnabled = await h.request('POST', `${P}/mfa/backup-codes`, { token: none.accessToken, body: { password: none.password } });
    assert.equal(notEnabled.statusCode, 409);
  });
});

describe('disable, admin reset, password reset', () => {
  test('DELETE /mfa/totp needs the password (401 invalid_credentials); then login gives tokens; mfa_disabled emitted', async () => {
    const r = await h.register();
    await enroll(r);
    const wrong = await h.request('DELETE', `${P}/mfa/totp`, { token: r.accessToken, body: { password: 'wrong password here' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    const ok = await h.request('DELETE', `${P}/mfa/totp`, { token: r.accessToken, body: { password: r.password } });
    assert.equal(ok.statusCode, 204);
    const login = await passwordLogin(r);
    assert.ok(login.accessToken);
    assert.equal(login.user.mfaEnabled, false);
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.mfa_disabled' && e.event.subject === r.userId && e.event.data.reason === 'user'));
    const twice = await h.request('DELETE', `${P}/mfa/totp`, { token: r.accessToken, body: { password: r.password } });
    assert.equal(twice.statusCode, 409);
  });

  test('admin MFA reset: an admin of the tenant removes the second factor; a plain user gets 403; unknown id 404', async () => {
    const r = await h.register();
    await enroll(r);
    const admin = await h.admin();
    const denied = await h.request('POST', `/api/v1/admin/users/${r.userId}/mfa/reset`, { token: r.accessToken });
    assert.equal(denied.statusCode, 403);
    const missing = await h.request('POST', `/api/v1/admin/users/${crypto.randomUUID()}/mfa/reset`, { token: admin.accessToken });
    assert.equal(missing.statusCode, 404);
    const ok = await h.request('POST', `/api/v1/admin/users/${r.userId}/mfa/reset`, { token: admin.accessToken });
    assert.equal(ok.statusCode, 204);
    const login = await passwordLogin(r);
    assert.ok(login.accessToken, 'no second factor any more');
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.mfa_disabled' && e.event.subject === r.userId && e.event.data.reason === 'admin_reset'));
  });

  test('password reset does not bypass MFA: no tokens from the reset, and the next login still asks for the code', async () => {
    const r = await h.register();
    const { secret } = await enroll(r);
    assert.equal((await h.request('POST', `${P}/password/forgot`, { body: { email: r.email } })).statusCode, 202);
    await h.deps.background.idle();
    const mail = h.shared.mailer.messages().filter((m) => m.to === r.email && m.text.includes('/reset-password?token=')).pop();
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail!.text)![1]!;
    const newPassword = 'a completely new passphrase 8';
    const reset = await h.request('POST', `${P}/password/reset`, { body: { token, newPassword } });
    assert.equal(reset.statusCode, 204);
    assert.equal(reset.body, '', 'the reset hands out nothing');
    const login = await h.request('POST', `${P}/login`, { body: { email: r.email, password: newPassword } });
    assert.equal(login.json().mfaRequired, true);
    assert.equal(login.json().accessToken, undefined);
    const done = await h.request('POST', `${P}/login/mfa`, { body: { mfaToken: login.json().mfaToken, code: codeAt(secret, 1) } });
    assert.equal(done.statusCode, 200);
  });
});

describe('tenant setting mfaRequired', () => {
  test('a user without a factor must enroll: the mfaToken only enrolls, and the confirmation completes the sign-in', async () => {
    const t = await h.createTenant('active', { mfaRequired: true });
    const r = await h.register({ tenant: t.id });
    const first = await passwordLogin(r, { tenant: t.id });
    assert.deepEqual([first.mfaRequired, first.enrollmentRequired, first.methods], [true, true, []]);
    assert.equal(first.accessToken, undefined);
    const me = await h.request('GET', `${P}/me`, { token: first.mfaToken, tenant: t.id });
    assert.equal(me.statusCode, 401, 'the enrollment token is not an access token');
    const complete = await h.request('POST', `${P}/login/mfa`, { tenant: t.id, body: { mfaToken: first.mfaToken, code: '123456' } });
    assert.equal(complete.json().code, 'invalid_mfa_token', 'nothing to complete before enrolling');
    const elsewhere = await h.request('POST', `${P}/mfa/totp/setup`, { token: first.mfaToken, tenant: DEFAULT_TENANT_ID });
    assert.equal(elsewhere.statusCode, 401, 'bound to its tenant');
    const setup = await h.request('POST', `${P}/mfa/totp/setup`, { token: first.mfaToken, tenant: t.id });
    assert.equal(setup.statusCode, 200);
    const confirm = await h.request('POST', `${P}/mfa/totp/confirm`, { token: first.mfaToken, tenant: t.id, body: { code: codeAt(setup.json().secret, 0) } });
    assert.equal(confirm.statusCode, 200, confirm.body);
    assert.equal(confirm.json().backupCodes.length, 10);
    assert.deepEqual(decodeJwt(confirm.json().tokens.accessToken).amr, ['pwd', 'otp']);
    const reuse = await h.request('POST', `${P}/mfa/totp/setup`, { token: first.mfaToken, tenant: t.id });
    assert.equal(reuse.statusCode, 401, 'the enrollment token is used up');
    const next = await passwordLogin(r, { tenant: t.id });
    assert.deepEqual([next.mfaRequired, next.enrollmentRequired, next.methods], [true, undefined, ['totp', 'backup_code']]);
  });
});
