import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKvStore, type KvStore } from '@gatehouse/platform/kv';
import { testLogger } from '@gatehouse/platform/testing';
import { GOOD_PASSWORD, startAuth, uniqueEmail, uniqueIp, type Harness } from '../../testing';

const MAX = 5;
const LOCK_SEC = 2;
const IP_MAX = 12;

let h: Harness;
before(async () => {
  h = await startAuth({
    THROTTLE_ACCOUNT_MAX_FAILURES: String(MAX),
    THROTTLE_ACCOUNT_LOCK_SEC: String(LOCK_SEC),
    THROTTLE_IP_MAX_FAILURES: String(IP_MAX),
  });
});
after(async () => {
  await h.close();
});

const LOGIN = '/api/v1/auth/login';

describe('credential throttling', () => {
  test('3x the limit of parallel wrong passwords: only the limit is verified and counted; then even the right password gets 429 until the lock ends', async () => {
    const r = await h.register();
    const ip = uniqueIp();
    const results = await Promise.all(
      Array.from({ length: 3 * MAX }, (_, i) => h.request('POST', LOGIN, { ip, body: { email: r.email, password: `wrong guess ${i}` } })),
    );
    const codes = results.map((x) => x.statusCode);
    assert.equal(codes.filter((c) => c === 401).length, MAX, `statuses: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 429).length, 2 * MAX);
    for (const x of results.filter((y) => y.statusCode === 429)) {
      assert.equal(x.json().code, 'too_many_attempts');
      assert.ok(Number(x.headers['retry-after']) >= 1);
    }
    const failures = (await h.outbox()).filter((e) => e.subject === 'auth.events.login_failed' && e.event.subject === r.userId);
    assert.equal(failures.length, MAX, 'no more failures recorded than the limit');

    const locked = await h.request('POST', LOGIN, { ip, body: { email: r.email, password: r.password } });
    assert.equal(locked.statusCode, 429, 'the right password is refused while locked');
    const retryAfter = Number(locked.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= LOCK_SEC, `Retry-After ${retryAfter}`);
    await sleep(LOCK_SEC * 1000 + 200);
    const open = await h.request('POST', LOGIN, { ip, body: { email: r.email, password: r.password } });
    assert.equal(open.statusCode, 200, 'the lock ends by itself');
  });

  test('a success resets the consecutive-failure count', async () => {
    const r = await h.register();
    const ip = uniqueIp();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < MAX - 1; i++) assert.equal((await h.request('POST', LOGIN, { ip, body: { email: r.email, password: 'nope nope nope' } })).statusCode, 401);
      assert.equal((await h.request('POST', LOGIN, { ip, body: { email: r.email, password: r.password } })).statusCode, 200);
    }
  });

  test('an unknown account locks like a real one (no enumeration through the lock)', async () => {
    const ghost = uniqueEmail('ghost');
    const ip = uniqueIp();
    const codes: number[] = [];
    for (let i = 0; i <= MAX; i++) codes.push((await h.request('POST', LOGIN, { ip, body: { email: ghost, password: 'whatever it is' } })).statusCode);
    assert.deepEqual(codes, [...Array(MAX).fill(401), 429]);
  });

  test('per client IP: failures across accounts lock the IP, not other clients', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < IP_MAX; i++) {
      const res = await h.request('POST', LOGIN, { ip, body: { email: uniqueEmail('spray'), password: 'spray spray spray' } });
      assert.equal(res.statusCode, 401);
    }
    const r = await h.register();
    const blocked = await h.request('POST', LOGIN, { ip, body: { email: r.email, password: r.password } });
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().code, 'too_many_attempts');
    const elsewhere = await h.request('POST', LOGIN, { ip: uniqueIp(), body: { email: r.email, password: r.password } });
    assert.equal(elsewhere.statusCode, 200);
  });

  test('password change shares the account counter: guessing the current password there locks too', async () => {
    const r = await h.register();
    const ip = uniqueIp();
    const codes: number[] = [];
    for (let i = 0; i <= MAX; i++) {
      codes.push((await h.request('POST', '/api/v1/auth/password/change', { ip, token: r.accessToken, body: { currentPassword: `guess ${i}`, newPassword: 'fresh new passphrase 1' } })).statusCode);
    }
    assert.deepEqual(codes, [...Array(MAX).fill(401), 429]);
    assert.equal((await h.request('POST', LOGIN, { ip: uniqueIp(), body: { email: r.email, password: r.password } })).statusCode, 429);
  });
});

describe('limit store down', () => {
  let down: Harness;
  let deadKv: KvStore;
  before(async () => {
    // nothing listens on port 1: every command fails at once, like a Redis that is down
    deadKv = createKvStore({ url: 'redis://127.0.0.1:1', logger: testLogger, connectTimeoutMs: 500 });
    down = await startAuth({}, { shared: (s) => ({ ...s, kv: deadKv }) });
  });
  after(async () => {
    await down.close();
    await deadKv.close();
  });

  test('credential endpoints fail closed, quickly: 503 service_unavailable', async () => {
    const r = await down.register();
    for (const [url, body, token] of [
      [LOGIN, { email: r.email, password: r.password }, undefined],
      ['/api/v1/auth/password/forgot', { email: r.email }, undefined],
      ['/api/v1/auth/password/reset', { token: 'x'.repeat(43), newPassword: GOOD_PASSWORD }, undefined],
      ['/api/v1/auth/email/verify', { token: 'x'.repeat(43) }, undefined],
      ['/api/v1/auth/password/change', { currentPassword: r.password, newPassword: 'fresh new passphrase 2' }, r.accessToken],
    ] as const) {
      const t0 = Date.now();
      const res = await down.request('POST', url, { body, token });
      assert.equal(res.statusCode, 503, `${url}: ${res.body}`);
      assert.equal(res.json().code, 'service_unavailable');
      assert.ok(Date.now() - t0 < 3000, `${url} took ${Date.now() - t0} ms`);
    }
  });
});
