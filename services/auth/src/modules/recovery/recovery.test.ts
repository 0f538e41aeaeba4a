import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { sha256 } from '@gatehouse/platform/crypto';
import { GOOD_PASSWORD, startAuth, uniqueEmail, uniqueIp, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth();
});
after(async () => {
  await h.close();
});

const P = '/api/v1/auth';
const NEW_PASSWORD = 'a brand new passphrase 42';

/** The token in the newest email to `to` whose link path is `kind`. */
async function tokenFromMail(to: string, kind: 'reset-password' | 'verify-email'): Promise<string | undefined> {
  await h.deps.background.idle();
  const mails = h.shared.mailer.messages().filter((m) => m.to === to && m.text.includes(`/${kind}?token=`));
  const last = mails[mails.length - 1];
  return last && /token=([A-Za-z0-9_-]+)/.exec(last.text)?.[1];
}

async function revoked(token: string): Promise<boolean> {
  return h.deps.verifier.verify(token).then(() => false, () => true);
}

describe('password change', () => {
  test('204: the new password works, the old does not; other sessions revoked, this one kept', async () => {
    const r = await h.register();
    const other = (await h.request('POST', `${P}/login`, { body: { email: r.email, password: r.password } })).json();
    const res = await h.request('POST', `${P}/password/change`, { token: r.accessToken, body: { currentPassword: r.password, newPassword: NEW_PASSWORD } });
    assert.equal(res.statusCode, 204);
    assert.equal(await revoked(r.accessToken), false, 'the session that changed it stays');
    assert.equal(await revoked(other.accessToken), true, 'the other session ended at once');
    assert.equal((await h.request('POST', `${P}/refresh`, { body: { refreshToken: other.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: r.email, password: r.password } })).statusCode, 401);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: r.email, password: NEW_PASSWORD } })).statusCode, 200);
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.password_changed' && e.event.subject === r.userId));
  });

  test('401 invalid_credentials for a wrong current password; 400 weak_password; 401 without a token', async () => {
    const r = await h.register();
    const wrong = await h.request('POST', `${P}/password/change`, { token: r.accessToken, body: { currentPassword: 'not it at all', newPassword: NEW_PASSWORD } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    const weak = await h.request('POST', `${P}/password/change`, { token: r.accessToken, body: { currentPassword: r.password, newPassword: 'password' } });
    assert.equal(weak.statusCode, 400);
    assert.equal(weak.json().code, 'weak_password');
    const anon = await h.request('POST', `${P}/password/change`, { body: { currentPassword: r.password, newPassword: NEW_PASSWORD } });
    assert.equal(anon.statusCode, 401);
    assert.equal(anon.json().code, 'invalid_token');
  });
});

describe('forgot and reset', () => {
  test('forgot: 202 for known and unknown addresses alike; only the known one gets a link, valid 30 min', async () => {
    const r = await h.register();
    const ghost = uniqueEmail('ghost');
    const known = await h.request('POST', `${P}/password/forgot`, { body: { email: r.email.toUpperCase() } });
    const unknown = await h.request('POST', `${P}/password/forgot`, { body: { email: ghost } });
    assert.equal(known.statusCode, 202);
    assert.equal(unknown.statusCode, 202);
    assert.equal(known.body, unknown.body);
    const token = await tokenFromMail(r.email, 'reset-password');
    assert.ok(token, 'reset email sent');
    assert.equal(await tokenFromMail(ghost, 'reset-password'), undefined);
    const row = await h.deps.db.admin.selectFrom('one_time_tokens').selectAll().where('token_hash', '=', sha256(token)).executeTakeFirstOrThrow();
    const ttl = new Date(row.expires_at as Date).getTime() - new Date(row.created_at as Date).getTime();
    assert.ok(Math.abs(ttl - 30 * 60_000) < 5_000, `reset token lives ${ttl} ms`);
    const raw = await h.deps.db.admin.selectFrom('one_time_tokens').select('token_hash').where('token_hash', '=', token).execute();
    assert.equal(raw.length, 0, 'the token itself is not stored');
  });

  test('reset: 204 without tokens, every session revoked, the token single use; wrong/used/expired: 400 invalid_token', async () => {
    const r = await h.register();
    await h.request('POST', `${P}/password/forgot`, { body: { email: r.email } });
    const token = (await tokenFromMail(r.email, 'reset-password'))!;

    const weak = await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: r.email } });
    assert.equal(weak.statusCode, 400);
    assert.equal(weak.json().code, 'weak_password');

    const res = await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: NEW_PASSWORD } });
    assert.equal(res.statusCode, 204, 'a weak attempt did not burn the token');
    assert.equal(res.body, '', 'a reset never hands out tokens');
    assert.equal(await revoked(r.accessToken), true);
    assert.equal((await h.request('POST', `${P}/refresh`, { body: { refreshToken: r.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', `${P}/login`, { body: { email: r.email, password: NEW_PASSWORD } })).statusCode, 200);

    const used = await h.request('POST', `${P}/password/reset`, { body: { token, newPassword: 'yet another passphrase 1' } });
    assert.equal(used.statusCode, 400);
    assert.equal(used.json().code, 'invalid_token');
    const wrong = await h.request('POST', `${P}/password/reset`, { body: { token: 'x'.repeat(43), newPassword: NEW_PASSWORD } });
    assert.equal(wrong.json().code, 'invalid_token');

    await h.request('POST', `${P}/password/forgot`, { body: { email: r.email } });
    const late = (await tokenFromMail(r.email, 'reset-password'))!;
    assert.notEqual(late, token);
    await h.deps.db.admin.updateTable('one_time_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('token_hash', '=', sha256(late)).execute();
    const expired = await h.request('POST', `${P}/password/reset`, { body: { token: late, newPassword: NEW_PASSWORD } });
    assert.equal(expired.statusCode, 400);
    assert.equal(expired.json().code, 'invalid_token');
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.password_reset' && e.event.subject === r.userId));
  });

  test('a reset token of one tenant does nothing in another', async () => {
    const t = await h.createTenant();
    const r = await h.register();
    await h.request('POST', `${P}/password/forgot`, { body: { email: r.email } });
    const token = (await tokenFromMail(r.email, 'reset-password'))!;
    const res = await h.request('POST', `${P}/password/reset`, { tenant: t.id, body: { token, newPassword: NEW_PASSWORD } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'invalid_token');
  });

  test('forgot is throttled per address (also unknown ones): 429 too_many_attempts with Retry-After', async () => {
    const ghost = uniqueEmail('flood');
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await h.request('POST', `${P}/password/forgot`, { body: { email: ghost } })).statusCode);
    assert.deepEqual(codes.slice(0, 5), [202, 202, 202, 202, 202]);
    const last = await h.request('POST', `${P}/password/forgot`, { body: { email: ghost } });
    assert.equal(last.statusCode, 429);
    assert.equal(last.json().code, 'too_many_attempts');
    assert.ok(Number(last.headers['retry-after']) >= 1);
  });

  test('invalid reset and verification tokens are throttled per client IP', async () => {
    const ip = uniqueIp();
    let status = 0;
    for (let i = 0; i < h.config.throttle.ipMaxFailures + 1 && status !== 429; i++) {
      status = (await h.request('POST', `${P}/email/verify`, { ip, body: { token: `guess-${i}` } })).statusCode;
    }
    assert.equal(status, 429);
    const other = await h.request('POST', `${P}/email/verify`, { ip: uniqueIp(), body: { token: 'guess' } });
    assert.equal(other.statusCode, 400, 'another client is not affected');
  });
});

describe('email verification', () => {
  test('the registration link verifies once; resend sends a new link and voids the old; verified users get none', async () => {
    const r = await h.register();
    const first = (await tokenFromMail(r.email, 'verify-email'))!;
    const resend = await h.request('POST', `${P}/email/verify/resend`, { token: r.accessToken });
    assert.equal(resend.statusCode, 202);
    const second = (await tokenFromMail(r.email, 'verify-email'))!;
    assert.notEqual(second, first);
    const old = await h.request('POST', `${P}/email/verify`, { body: { token: first } });
    assert.equal(old.statusCode, 400);
    assert.equal(old.json().code, 'invalid_token');
    const ok = await h.request('POST', `${P}/email/verify`, { body: { token: second } });
    assert.equal(ok.statusCode, 204);
    const me = (await h.request('GET', `${P}/me`, { token: r.accessToken })).json();
    assert.equal(me.emailVerified, true);
    const again = await h.request('POST', `${P}/email/verify`, { body: { token: second } });
    assert.equal(again.json().code, 'invalid_token');
    const count = h.shared.mailer.messages().filter((m) => m.to === r.email).length;
    await h.request('POST', `${P}/email/verify/resend`, { token: r.accessToken });
    await h.deps.background.idle();
    assert.equal(h.shared.mailer.messages().filter((m) => m.to === r.email).length, count, 'no mail once verified');
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.email_verified' && e.event.subject === r.userId));
  });

  test('expired verification token: 400 invalid_token; resend needs a token', async () => {
    const r = await h.register();
    const token = (await tokenFromMail(r.email, 'verify-email'))!;
    await h.deps.db.admin.updateTable('one_time_tokens').set({ expires_at: new Date(Date.now() - 1) }).where('token_hash', '=', sha256(token)).execute();
    const res = await h.request('POST', `${P}/email/verify`, { body: { token } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'invalid_token');
    assert.equal((await h.request('POST', `${P}/email/verify/resend`)).statusCode, 401);
  });

  test('tokens never reach the outbox or the responses', async () => {
    const r = await h.register({ email: uniqueEmail('secret') });
    await h.request('POST', `${P}/password/forgot`, { body: { email: r.email } });
    const reset = (await tokenFromMail(r.email, 'reset-password'))!;
    const verify = (await tokenFromMail(r.email, 'verify-email'))!;
    await sleep(10);
    const all = JSON.stringify(await h.outbox());
    for (const secret of [reset, verify, r.refreshToken, r.password, GOOD_PASSWORD, sha256(reset)]) assert.ok(!all.includes(secret));
    assert.equal(decodeJwt(r.accessToken).sub, r.userId);
  });
});
