import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { AppError } from '@gatehouse/platform/errors';
import { createKvStore, type KvStore } from '@gatehouse/platform/kv';
import { testLogger, testServers } from '@gatehouse/platform/testing';
import { GOOD_PASSWORD, startAuth, uniqueEmail, uniqueIp, type Harness } from '../../testing';
import { createThrottle } from './throttle.service';

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

/** The 429 (or 503) a throttle call threw: its code and Retry-After in seconds. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; retryAfter: number }> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AppError, String(err));
  return { code: err.code, retryAfter: Number(err.headers?.['retry-after']) };
}

// The throttle itself over each store: the same answers from Redis (one Lua script per
// reservation) and from memory (one synchronous step).
for (const kind of ['redis', 'memory'] as const) {
  describe(`throttle over the ${kind} store`, { skip: kind === 'redis' && !testServers.redisUrl ? 'no Redis in this run' : false }, () => {
    const run = randomBytes(4).toString('hex');
    const store = createKvStore({ url: kind === 'redis' ? testServers.redisUrl : undefined, keyPrefix: `test-thr:${run}:`, logger: testLogger });
    // counts the store calls each throttle call makes (each is one round trip on Redis)
    let calls = 0;
    const kv = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (...args: unknown[]) => (calls++, (v as (...a: unknown[]) => unknown).apply(target, args)) : v;
      },
    });
    const limits = { accountMaxFailures: 3, accountLockSec: 1, ipMaxFailures: 4, ipWindowSec: 30 };
    let lockouts = 0;
    const throttle = createThrottle({ kv, limits, metrics: { lockout: () => lockouts++ } });
    after(async () => {
      await store.close();
      if (kind !== 'redis') return;
      const raw = new Redis(testServers.redisUrl!);
      const keys = await raw.keys(`test-thr:${run}:*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    });
    const subject = () => `u:${randomBytes(6).toString('hex')}`;

    test('the IP check, the lock check and the reservation are one store call', async () => {
      calls = 0;
      const r = await throttle.reserve('password', 't1', subject(), { ip: uniqueIp() });
      assert.equal(r.count, 1);
      assert.equal(calls, 1);
      calls = 0;
      await throttle.limit('forgot', 't1', subject(), 3, 60, { ip: uniqueIp() });
      assert.equal(calls, 1);
    });

    test('10 parallel reservations: exactly the limit gets a slot (counts 1..3), the rest 429', async () => {
      const s = subject();
      const ip = uniqueIp();
      let refused = 0;
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => throttle.reserve('password', 't1', s, { ip, onAccountRefused: () => refused++ })));
      const counts = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value.count] : []));
      assert.deepEqual(
        counts.sort((a, b) => a - b),
        [1, 2, 3],
      );
      for (const x of results.filter((y) => y.status === 'rejected')) {
        assert.ok(x.reason instanceof AppError && x.reason.code === 'too_many_attempts' && x.reason.status === 429);
        const ra = Number(x.reason.headers?.['retry-after']);
        assert.ok(ra >= 1 && ra <= limits.accountLockSec, `Retry-After ${ra}`);
      }
      assert.equal(refused, 7, 'each refusal is the account, not the IP');
    });

    test('the failure that reaches the limit locks (Retry-After = the lock left); the lock ends by itself; the IP is untouched', async () => {
      const s = subject();
      const ip = uniqueIp();
      const before = lockouts;
      for (let i = 0; i < limits.accountMaxFailures; i++) await throttle.fail(await throttle.reserve('password', 't1', s, { ip }));
      assert.equal(lockouts, before + 1, 'one lock');
      let refused = 0;
      const locked = await refusal(throttle.reserve('password', 't1', s, { ip, onAccountRefused: () => refused++ }));
      assert.equal(locked.code, 'too_many_attempts');
      assert.equal(locked.retryAfter, limits.accountLockSec);
      assert.equal(refused, 1);
      // another account from the same IP is not affected (no failIp was counted)
      assert.equal((await throttle.reserve('password', 't1', subject(), { ip })).count, 1);
      await sleep(limits.accountLockSec * 1000 + 100);
      assert.equal((await throttle.reserve('password', 't1', s, { ip })).count, 1, 'lock and counter expired together');
    });

    test('a success resets the count', async () => {
      const s = subject();
      for (let i = 0; i < limits.accountMaxFailures - 1; i++) await throttle.fail(await throttle.reserve('password', 't1', s));
      await throttle.succeed(await throttle.reserve('password', 't1', s));
      assert.equal((await throttle.reserve('password', 't1', s)).count, 1);
    });

    test('an IP at its limit is refused with the window it has left, counting nothing for the account; other IPs pass', async () => {
      const ip = uniqueIp();
      const s = subject();
      for (let i = 0; i < limits.ipMaxFailures - 1; i++) await throttle.failIp('password', ip);
      assert.equal((await throttle.reserve('password', 't1', s, { ip })).count, 1, 'below the limit');
      await throttle.failIp('password', ip);
      let refused = 0;
      const blocked = await refusal(throttle.reserve('password', 't1', s, { ip, onAccountRefused: () => refused++ }));
      assert.equal(blocked.code, 'too_many_attempts');
      assert.ok(blocked.retryAfter >= limits.ipWindowSec - 2 && blocked.retryAfter <= limits.ipWindowSec, `Retry-After ${blocked.retryAfter}`);
      assert.equal(refused, 0, 'an IP refusal is not an account refusal');
      await assert.rejects(throttle.checkIp('password', ip), { code: 'too_many_attempts' });
      await assert.rejects(throttle.limit('password', 't1', subject(), 10, 60, { ip }), { code: 'too_many_attempts' });
      assert.equal((await throttle.reserve('password', 't1', s, { ip: uniqueIp() })).count, 2, 'the refused call did not count');
      // scopes count apart
      assert.equal((await throttle.reserve('mfa', 't1', s, { ip })).count, 1);
    });

    test('limit: 429 above max per window, with the window left', async () => {
      const s = subject();
      for (let i = 0; i < 2; i++) await throttle.limit('resend', 't1', s, 2, 30);
      const over = await refusal(throttle.limit('resend', 't1', s, 2, 30));
      assert.equal(over.code, 'too_many_attempts');
      assert.ok(over.retryAfter >= 28 && over.retryAfter <= 30, `Retry-After ${over.retryAfter}`);
    });
  });
}

describe('throttle over a store that is down', () => {
  test('every call fails closed: 503 service_unavailable', async () => {
    const dead = createKvStore({ url: 'redis://127.0.0.1:1', logger: testLogger, connectTimeoutMs: 300 });
    try {
      const throttle = createThrottle({ kv: dead, limits: { accountMaxFailures: 3, accountLockSec: 1, ipMaxFailures: 4, ipWindowSec: 30 } });
      for (const p of [throttle.reserve('password', 't1', 'u:x', { ip: '10.0.0.1' }), throttle.limit('forgot', 't1', 'x', 3, 60, { ip: '10.0.0.1' }), throttle.succeed({ key: 'k', count: 1 })]) {
        assert.equal((await refusal(p)).code, 'service_unavailable');
      }
    } finally {
      await dead.close();
    }
  });
});
