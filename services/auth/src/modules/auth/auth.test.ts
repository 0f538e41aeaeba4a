import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hash as argon2Hash, parseOptions } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GOOD_PASSWORD, problemShape, startAuth, uniqueEmail, uniqueIp, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth();
});
after(async () => {
  await h.close();
});

const REGISTER = '/api/v1/auth/register';
const LOGIN = '/api/v1/auth/login';

async function setPasswordHash(userId: string, hash: string) {
  await h.deps.db.admin.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
}
async function storedHash(userId: string): Promise<string> {
  const r = await h.deps.db.admin.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
  return r.password_hash as string;
}

describe('register', () => {
  test('201 with a TokenResponse, an at+jwt access token with every claim, and a verification email', async () => {
    const email = uniqueEmail('Reg');
    const res = await h.request('POST', REGISTER, { body: { email, password: GOOD_PASSWORD, username: `u${Date.now()}`, displayName: 'Ada 👩‍💻 لوفلايس' } });
    assert.equal(res.statusCode, 201);
    const body = res.json();
    assert.equal(body.tokenType, 'Bearer');
    assert.equal(body.user.email, email);
    assert.equal(body.user.emailVerified, false);
    assert.equal(body.user.displayName, 'Ada 👩‍💻 لوفلايس');
    assert.deepEqual(body.user.roles, ['user']);
    assert.equal(typeof body.refreshToken, 'string');
    assert.ok(body.refreshToken.length >= 43, 'refresh token carries at least 256 bits');
    assert.ok(body.refreshExpiresIn > 0);
    const header = decodeProtectedHeader(body.accessToken);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, h.config.tokens.algorithm);
    assert.equal(header.kid, h.deps.keys.currentKid());
    const claims = decodeJwt(body.accessToken);
    for (const c of ['iss', 'aud', 'sub', 'tid', 'sid', 'roles', 'amr', 'iat', 'exp', 'jti']) assert.ok(c in claims, `claim ${c}`);
    assert.equal(claims.iss, h.config.tokens.issuer);
    assert.equal(claims.aud, h.config.tokens.audience);
    assert.equal(claims.sub, body.user.id);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(claims.exp! - Math.floor(claims.iat!), h.config.tokens.accessTtlSec, 'iat has a millisecond fraction, exp whole seconds');
    await h.deps.background.idle();
    const mail = h.shared.mailer.messages().find((m) => m.to === email);
    assert.ok(mail, 'verification email sent');
    assert.match(mail.text, /http:\/\/localhost:3000\/verify-email\?token=[A-Za-z0-9_-]{43}/);
  });

  test('409 email_taken, case-insensitively; 409 username_taken, case-insensitively', async () => {
    const email = uniqueEmail('dup');
    const username = `dup${Date.now()}`;
    await h.register({ email, username });
    const again = await h.request('POST', REGISTER, { body: { email: email.toUpperCase(), password: GOOD_PASSWORD } });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'email_taken');
    const user = await h.request('POST', REGISTER, { body: { email: uniqueEmail(), password: GOOD_PASSWORD, username: username.toUpperCase() } });
    assert.equal(user.statusCode, 409);
    assert.equal(user.json().code, 'username_taken');
  });

  test('20 concurrent registrations with one email: exactly one 201, the rest 409 email_taken', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => h.request('POST', REGISTER, { body: { email, password: GOOD_PASSWORD } })),
    );
    const codes = results.map((r) => r.statusCode);
    assert.equal(codes.filter((c) => c === 201).length, 1, `statuses: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 409).length, 19);
    for (const r of results.filter((x) => x.statusCode === 409)) assert.equal(r.json().code, 'email_taken');
    const n = await h.deps.db.admin.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).where('email', '=', email).executeTakeFirstOrThrow();
    assert.equal(Number(n.n), 1);
  });

  test('weak_password names the rule: short, long, common, email, local part, username', async () => {
    const email = uniqueEmail('weak');
    const cases: Array<[string, RegExp, string?]> = [
      ['short7!', /at least 8/],
      ['x'.repeat(257), /at most 256/],
      ['Password1', /commonly used/],
      ['QWERTYUIOP', /commonly used/],
      [email.toUpperCase(), /email/],
      [email.split('@')[0]!, /email/],
      ['TheUserName1', /username/, 'theusername1'],
    ];
    for (const [password, detail, username] of cases) {
      const res = await h.request('POST', REGISTER, { body: { email, password, username } });
      assert.equal(res.statusCode, 400, password);
      assert.equal(res.json().code, 'weak_password');
      assert.match(res.json().detail, detail);
    }
  });

  test('passwords: 256 characters accepted whole, no truncation; any Unicode; NFC forms are one password', async () => {
    const long = 'ä'.repeat(200) + 'z'.repeat(56);
    const r = await h.register({ password: long });
    const truncated = await h.request('POST', LOGIN, { body: { email: r.email, password: long.slice(0, 255) } });
    assert.equal(truncated.statusCode, 401, 'a prefix of the password is not the password');
    const nfd = long.normalize('NFD');
    assert.notEqual(nfd, long);
    const ok = await h.request('POST', LOGIN, { body: { email: r.email, password: nfd } });
    assert.equal(ok.statusCode, 200, 'the decomposed form of the same text is the same password');
    const emoji = await h.register({ password: '🔑 ‮zero​width​ 秘密 \u0001 ctl' });
    const login = await h.request('POST', LOGIN, { body: { email: emoji.email, password: '🔑 ‮zero​width​ 秘密 \u0001 ctl' } });
    assert.equal(login.statusCode, 200);
    const folded = await h.request('POST', LOGIN, { body: { email: emoji.email, password: '🔑 ‮ZERO​WIDTH​ 秘密 \u0001 CTL' } });
    assert.equal(folded.statusCode, 401, 'no case folding');
    // NUL and lone surrogates are refused in every string input, passwords included (issue 9)
    const nul = await h.request('POST', REGISTER, { body: { email: uniqueEmail(), password: `${GOOD_PASSWORD} \u0000` } });
    assert.equal(nul.statusCode, 400);
    assert.equal(nul.json().code, 'validation_failed');
  });

  test('a tenant setting raises the minimum length', async () => {
    const t = await h.createTenant('active', { passwordMinLength: 20 });
    const res = await h.request('POST', REGISTER, { tenant: t.id, body: { email: uniqueEmail(), password: 'fifteen chars ok' } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().detail, /at least 20/);
  });

  test('validation_failed for missing or malformed fields', async () => {
    for (const body of [{}, { email: 'not-an-email', password: GOOD_PASSWORD }, { email: uniqueEmail(), password: { nested: true } }, { email: uniqueEmail(), password: GOOD_PASSWORD, username: 'a b' }]) {
      const res = await h.request('POST', REGISTER, { body });
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().code, 'validation_failed');
      assert.ok(Array.isArray(res.json().errors));
    }
  });

  test('unknown, disabled or missing tenant: 404 tenant_not_found for registration and login', async () => {
    const disabled = await h.createTenant('disabled');
    for (const tenant of [crypto.randomUUID(), disabled.id, null, 'not-a-uuid']) {
      for (const [url, body] of [
        [REGISTER, { email: uniqueEmail(), password: GOOD_PASSWORD }],
        [LOGIN, { email: uniqueEmail(), password: GOOD_PASSWORD }],
      ] as const) {
        const res = await h.request('POST', url, { tenant, body });
        assert.equal(res.statusCode, 404, `${url} ${tenant}`);
        assert.equal(res.json().code, 'tenant_not_found');
      }
    }
  });

  test('email and username are unique per tenant only; a token of one tenant is refused on another', async () => {
    const t = await h.createTenant();
    const email = uniqueEmail('two');
    const a = await h.register({ email });
    const b = await h.register({ email, tenant: t.id });
    assert.notEqual(a.userId, b.userId);
    assert.equal(b.body.user.tenantId, t.id);
    assert.equal(decodeJwt(b.accessToken).tid, t.id);
    const cross = await h.request('GET', '/api/v1/auth/me', { token: a.accessToken, tenant: t.id });
    assert.equal(cross.statusCode, 401);
    assert.equal(cross.json().code, 'invalid_token');
    // the other tenant's password does not open this tenant's account of the same email
    const wrongTenant = await h.request('POST', LOGIN, { tenant: t.id, body: { email, password: 'another good passphrase 9' } });
    assert.equal(wrongTenant.statusCode, 401);
  });
});

describe('login', () => {
  test('by email (any case) or by username; lastLoginAt set', async () => {
    const username = `login${Date.now()}`;
    const r = await h.register({ username });
    const byEmail = await h.request('POST', LOGIN, { body: { email: r.email.toUpperCase(), password: r.password } });
    assert.equal(byEmail.statusCode, 200);
    assert.equal(byEmail.json().user.id, r.userId);
    assert.ok(byEmail.json().user.lastLoginAt);
    const byUsername = await h.request('POST', LOGIN, { body: { username: username.toUpperCase(), password: r.password } });
    assert.equal(byUsername.statusCode, 200);
    assert.notEqual(decodeJwt(byUsername.json().accessToken).sid, decodeJwt(byEmail.json().accessToken).sid, 'each login is its own session');
    const none = await h.request('POST', LOGIN, { body: { password: r.password } });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().code, 'validation_failed');
  });

  test('no enumeration: unknown user, wrong password and empty password give the same status and body', async () => {
    const r = await h.register();
    const ip = uniqueIp();
    const unknown = await h.request('POST', LOGIN, { ip, body: { email: uniqueEmail('nobody'), password: GOOD_PASSWORD } });
    const wrong = await h.request('POST', LOGIN, { ip, body: { email: r.email, password: 'wrong password here' } });
    const empty = await h.request('POST', LOGIN, { ip, body: { email: r.email, password: '' } });
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(problemShape(unknown), problemShape(wrong));
    assert.deepEqual(problemShape(unknown), problemShape(empty));
    assert.equal(unknown.json().code, 'invalid_credentials');
  });

  test('no enumeration by timing: the unknown-user path runs a hash verification (medians within 2x)', async () => {
    const r = await h.register();
    const ip = uniqueIp();
    const time = async (body: object) => {
      const t0 = process.hrtime.bigint();
      const res = await h.request('POST', LOGIN, { ip, body });
      assert.equal(res.statusCode, 401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    // warm both paths once
    await time({ email: uniqueEmail('warm'), password: 'x' });
    await time({ email: r.email, password: 'warm up wrong' });
    const unknown: number[] = [];
    const wrong: number[] = [];
    // 8 each keeps the account (1 warm-up + 8) under the default lock of 10 failures
    for (let i = 0; i < 8; i++) {
      unknown.push(await time({ email: uniqueEmail('ghost'), password: `guess ${i}` }));
      wrong.push(await time({ email: r.email, password: `guess ${i}` }));
    }
    // medians: one GC pause or scheduler hiccup must not decide the comparison
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const [u, w] = [median(unknown), median(wrong)];
    assert.ok(u < 2 * w && w < 2 * u, `unknown ${u.toFixed(1)} ms vs wrong password ${w.toFixed(1)} ms`);
    // an argon2id verification at OWASP parameters takes milliseconds; a skipped one would not
    assert.ok(u > 5, `unknown-user path took ${u.toFixed(1)} ms: no hash was verified`);
  });

  test('a disabled account: 403 account_disabled only after the correct password; wrong password stays 401', async () => {
    const r = await h.register();
    await h.deps.db.admin.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', r.userId).execute();
    const wrong = await h.request('POST', LOGIN, { body: { email: r.email, password: 'not the password' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_credentials');
    const right = await h.request('POST', LOGIN, { body: { email: r.email, password: r.password } });
    assert.equal(right.statusCode, 403);
    assert.equal(right.json().code, 'account_disabled');
  });

  test('imported bcrypt hashes ($2a, $2b, $2y) verify and are re-hashed to argon2id at current parameters', async () => {
    for (const version of ['2a', '2b', '2y'] as const) {
      const r = await h.register();
      const imported = 'imported bcrypt secret 1';
      await setPasswordHash(r.userId, bcrypt.hashSync(imported, 4).replace(/^\$2b\$/, `$${version}$`));
      const wrong = await h.request('POST', LOGIN, { body: { email: r.email, password: 'imported bcrypt secret 2' } });
      assert.equal(wrong.statusCode, 401);
      assert.ok((await storedHash(r.userId)).startsWith(`$${version}$`), 'a failed login does not touch the hash');
      const ok = await h.request('POST', LOGIN, { body: { email: r.email, password: imported } });
      assert.equal(ok.statusCode, 200, version);
      const now = await storedHash(r.userId);
      assert.ok(now.startsWith('$argon2id$'), now);
      const o = parseOptions(now);
      assert.deepEqual([o.memoryCost, o.timeCost, o.parallelism], [19456, 2, 1]);
      const again = await h.request('POST', LOGIN, { body: { email: r.email, password: imported } });
      assert.equal(again.statusCode, 200);
    }
  });

  test('argon2 hashes with foreign parameters or variant verify and are re-hashed', async () => {
    for (const options of [
      { algorithm: 2, memoryCost: 4096, timeCost: 3, parallelism: 1 },
      { algorithm: 1, memoryCost: 8192, timeCost: 2, parallelism: 2 },
    ]) {
      const r = await h.register();
      const imported = 'imported argon secret';
      await setPasswordHash(r.userId, await argon2Hash(imported, options as never));
      const ok = await h.request('POST', LOGIN, { body: { email: r.email, password: imported } });
      assert.equal(ok.statusCode, 200);
      const o = parseOptions(await storedHash(r.userId));
      assert.ok((await storedHash(r.userId)).startsWith('$argon2id$'));
      assert.deepEqual([o.memoryCost, o.timeCost, o.parallelism], [19456, 2, 1]);
    }
  });

  test('a corrupt stored hash is a wrong password, not a 500', async () => {
    const r = await h.register();
    await setPasswordHash(r.userId, '$argon2id$garbage');
    const res = await h.request('POST', LOGIN, { body: { email: r.email, password: r.password } });
    assert.equal(res.statusCode, 401);
  });
});

describe('me and cookie mode', () => {
  test('GET /me: 200 User; 401 invalid_token with WWW-Authenticate without or with a bad token', async () => {
    const r = await h.register();
    const me = await h.request('GET', '/api/v1/auth/me', { token: r.accessToken });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().id, r.userId);
    for (const token of [undefined, 'garbage', `${r.accessToken.slice(0, -4)}AAAA`]) {
      const res = await h.request('GET', '/api/v1/auth/me', { token });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'invalid_token');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
  });

  test('?mode=cookie: refresh token only in an HttpOnly SameSite=Strict cookie on /api/v1/auth; refresh and logout use it', async () => {
    const email = uniqueEmail('cookie');
    const reg = await h.request('POST', REGISTER, { query: { mode: 'cookie' }, body: { email, password: GOOD_PASSWORD } });
    assert.equal(reg.statusCode, 201);
    assert.equal(reg.json().refreshToken, undefined, 'absent from the body');
    const cookie = reg.cookies.find((c) => c.name === 'gatehouse_refresh');
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/api/v1/auth');
    assert.equal(cookie.secure, undefined, 'not Secure on a localhost public URL');

    const refreshed = await h.request('POST', '/api/v1/auth/refresh', { cookies: { gatehouse_refresh: cookie.value } });
    assert.equal(refreshed.statusCode, 200);
    assert.equal(refreshed.json().refreshToken, undefined, 'a cookie refresh answers in cookie mode');
    const next = refreshed.cookies.find((c) => c.name === 'gatehouse_refresh');
    assert.ok(next && next.value !== cookie.value, 'rotated');

    const login = await h.request('POST', LOGIN, { query: { mode: 'cookie' }, body: { email, password: GOOD_PASSWORD } });
    assert.equal(login.json().refreshToken, undefined);
    const logout = await h.request('POST', '/api/v1/auth/logout', { token: refreshed.json().accessToken, cookies: { gatehouse_refresh: next.value } });
    assert.equal(logout.statusCode, 204);
    const cleared = logout.cookies.find((c) => c.name === 'gatehouse_refresh');
    assert.ok(cleared && (cleared.value === '' || (cleared.maxAge ?? 1) <= 0 || (cleared.expires && cleared.expires.getTime() < Date.now())));
    const after = await h.request('POST', '/api/v1/auth/refresh', { cookies: { gatehouse_refresh: next.value } });
    assert.equal(after.statusCode, 401);
  });

  test('logout with only the refresh cookie (no access token) revokes that session; with nothing at all: 401', async () => {
    const reg = await h.request('POST', REGISTER, { query: { mode: 'cookie' }, body: { email: uniqueEmail('cookie2'), password: GOOD_PASSWORD } });
    const cookie = reg.cookies.find((c) => c.name === 'gatehouse_refresh')!;
    const logout = await h.request('POST', '/api/v1/auth/logout', { cookies: { gatehouse_refresh: cookie.value } });
    assert.equal(logout.statusCode, 204);
    assert.equal(await h.deps.verifier.verify(reg.json().accessToken).then(() => 'valid', () => 'revoked'), 'revoked');
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { cookies: { gatehouse_refresh: cookie.value } })).statusCode, 401);
    const bare = await h.request('POST', '/api/v1/auth/logout');
    assert.equal(bare.statusCode, 401);
    assert.equal(bare.json().code, 'invalid_token');
  });
});
