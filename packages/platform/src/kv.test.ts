import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createKvStore, type KvStore } from './kv';
import { eventually as poll } from './testing';

const REDIS_URL = process.env.TEST_REDIS_URL;
const hasRedisServer = existsSync('/usr/bin/redis-server');
const logger = pino({ level: 'silent' });
const run = randomBytes(4).toString('hex');

/** Wait until `check` passes or the deadline expires (then its last error is thrown). */
const eventually = (check: () => void | Promise<void>, timeoutMs = 2000): Promise<void> => poll(check, timeoutMs, 20);

for (const kind of ['redis', 'memory'] as const) {
  describe(`kv store (${kind})`, { skip: kind === 'redis' && !REDIS_URL ? 'no Redis in this run (embedded backends): set TEST_REDIS_URL or run npm test with Redis up' : false }, () => {
    const name = `gh-kv-test-${run}`;
    const kv: KvStore = createKvStore({
      url: kind === 'redis' ? REDIS_URL : undefined,
      keyPrefix: `test:${run}:`,
      logger,
      name,
    });
    after(async () => {
      await kv.close();
      if (kind !== 'redis') return;
      const raw = new Redis(REDIS_URL!);
      const keys = await raw.keys(`test:${run}:*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    });

    test('reports its kind and answers ping', async () => {
      assert.equal(kv.kind, kind);
      assert.equal(kv.redis !== undefined, kind === 'redis');
      await kv.ping();
    });

    test('50 parallel incr return each count 1..50 exactly once', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => kv.incr('burst', 60_000)));
      const counts = results.map((r) => r.count).sort((a, b) => a - b);
      assert.deepEqual(counts, Array.from({ length: 50 }, (_, i) => i + 1));
      for (const r of results) assert.ok(r.resetMs > 0 && r.resetMs <= 60_000, `resetMs ${r.resetMs}`);
    });

    test('the counter window resets after its TTL, which is set only on creation', async () => {
      const first = await kv.incr('window', 300);
      assert.equal(first.count, 1);
      await sleep(100);
      const second = await kv.incr('window', 300);
      assert.equal(second.count, 2);
      // The second incr must not extend the window.
      assert.ok(second.resetMs <= 220, `window extended: ${second.resetMs}`);
      await sleep(second.resetMs + 50);
      const fresh = await kv.incr('window', 300);
      assert.equal(fresh.count, 1);
    });

    test('incrUnlessBlocked: counts like incr while no guard blocks', async () => {
      const results = await Promise.all(Array.from({ length: 30 }, () => kv.incrUnlessBlocked('g-burst', 60_000, [{ key: 'g-absent' }, { key: 'g-low', atLeast: 3 }])));
      assert.deepEqual(
        results.map((r) => (r.blockedBy === undefined ? r.count : -1)).sort((x, y) => x - y),
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      for (const r of results) assert.ok(r.resetMs > 0 && r.resetMs <= 60_000, `resetMs ${r.resetMs}`);
      await kv.set('g-low', '2', 60_000);
      const below = await kv.incrUnlessBlocked('g-burst', 60_000, [{ key: 'g-low', atLeast: 3 }]);
      assert.equal(below.blockedBy, undefined);
      assert.equal(below.count, 31);
    });

    test('incrUnlessBlocked: a guard at its threshold, or one that merely exists, blocks without counting', async () => {
      await kv.set('g-ip', '4', 5_000);
      await kv.set('g-lock', String(Date.now() + 400), 400);
      const ip = await kv.incrUnlessBlocked('g-counter', 60_000, [{ key: 'g-ip', atLeast: 4 }, { key: 'g-lock' }]);
      assert.equal(ip.blockedBy, 0, 'the first blocking guard wins');
      assert.ok(ip.resetMs > 4_000 && ip.resetMs <= 5_000, `the guard's remaining TTL: ${ip.resetMs}`);
      const lock = await kv.incrUnlessBlocked('g-counter', 60_000, [{ key: 'g-ip', atLeast: 5 }, { key: 'g-lock' }]);
      assert.equal(lock.blockedBy, 1);
      assert.ok(lock.resetMs > 0 && lock.resetMs <= 400, `resetMs ${lock.resetMs}`);
      assert.equal(await kv.get('g-counter'), null, 'a blocked call counts nothing');
      await sleep(lock.resetMs + 50);
      const after = await kv.incrUnlessBlocked('g-counter', 60_000, [{ key: 'g-ip', atLeast: 5 }, { key: 'g-lock' }]);
      assert.equal(after.blockedBy, undefined, 'the lock expired');
      assert.equal(after.count, 1);
    });

    test('incrUnlessBlocked: a guard without TTL reports 0 ms; a non-numeric value counts as 0', async () => {
      await kv.set('g-forever', 'x');
      assert.deepEqual(await kv.incrUnlessBlocked('g-c2', 1000, [{ key: 'g-forever' }]), { blockedBy: 0, resetMs: 0 });
      const r = await kv.incrUnlessBlocked('g-c2', 1000, [{ key: 'g-forever', atLeast: 1 }]);
      assert.equal(r.blockedBy, undefined);
      await kv.del('g-forever');
    });

    test('incrUnlessBlocked: 40 parallel calls with a guard set halfway never count past it', async () => {
      // a guard that appears while calls are in flight: every call sees it or not as a whole
      const calls = Array.from({ length: 40 }, (_, i) =>
        i === 20 ? kv.set('g-stop', '1', 60_000).then(() => undefined) : kv.incrUnlessBlocked('g-par', 60_000, [{ key: 'g-stop' }]),
      );
      const results = (await Promise.all(calls)).filter((r) => r !== undefined);
      const counted = results.filter((r) => r.blockedBy === undefined).map((r) => r.count);
      assert.deepEqual(
        counted.sort((x, y) => x - y),
        Array.from({ length: counted.length }, (_, i) => i + 1),
      );
      assert.equal(Number(await kv.get('g-par')), counted.length, 'blocked calls left the counter alone');
    });

    test('get, set with and without TTL, del', async () => {
      assert.equal(await kv.get('missing'), null);
      await kv.set('plain', 'v1');
      assert.equal(await kv.get('plain'), 'v1');
      await kv.set('short', 'v2', 100);
      assert.equal(await kv.get('short'), 'v2');
      await sleep(150);
      assert.equal(await kv.get('short'), null);
      await kv.del('plain');
      assert.equal(await kv.get('plain'), null);
    });

    test('setNx succeeds once under parallel calls and expires', async () => {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => kv.setNx('marker', `v${i}`, 200)));
      assert.equal(results.filter(Boolean).length, 1);
      await sleep(250);
      assert.equal(await kv.setNx('marker', 'again', 200), true);
    });

    test('take returns a value to exactly one of many parallel callers', async () => {
      await kv.set('once', 'secret', 60_000);
      const results = await Promise.all(Array.from({ length: 30 }, () => kv.take('once')));
      assert.deepEqual(
        results.filter((r) => r !== null),
        ['secret'],
      );
      assert.equal(await kv.get('once'), null);
      assert.equal(await kv.take('never-set'), null);
    });

    test('pub/sub delivers to every subscriber until it unsubscribes', async () => {
      const a: string[] = [];
      const b: string[] = [];
      const unsubA = await kv.subscribe('chan', (m) => a.push(m));
      const unsubB = await kv.subscribe('chan', (m) => b.push(m));
      await kv.publish('chan', 'one');
      await eventually(() => {
        assert.deepEqual(a, ['one']);
        assert.deepEqual(b, ['one']);
      });
      await unsubA();
      await kv.publish('chan', 'two');
      await eventually(() => assert.deepEqual(b, ['one', 'two']));
      assert.deepEqual(a, ['one']);
      await unsubB();
    });

    if (kind === 'redis') {
      test('keys and channels carry the prefix', async () => {
        const raw = new Redis(REDIS_URL!);
        try {
          await kv.set('prefixed', 'x', 10_000);
          assert.equal(await raw.get(`test:${run}:prefixed`), 'x');
          // the guarded script's variable key count: every key (counter and guards) is prefixed
          await raw.set(`test:${run}:g-raw`, '1', 'PX', 10_000);
          assert.equal((await kv.incrUnlessBlocked('g-raw-count', 10_000, [{ key: 'g-raw' }])).blockedBy, 0);
          assert.equal((await kv.incrUnlessBlocked('g-raw-count', 10_000, [{ key: 'g-raw', atLeast: 2 }])).blockedBy, undefined);
          assert.equal(await raw.get(`test:${run}:g-raw-count`), '1');
          const got: string[] = [];
          const unsub = await kv.subscribe('pchan', (m) => got.push(m));
          await raw.publish(`test:${run}:pchan`, 'raw');
          await eventually(() => assert.deepEqual(got, ['raw']));
          await unsub();
        } finally {
          raw.disconnect();
        }
      });

      test('a subscription survives a dropped connection and reports the resubscribe', async () => {
        const got: string[] = [];
        let resubscribed = 0;
        const unsub = await kv.subscribe('survive', (m) => got.push(m), () => resubscribed++);
        const admin = new Redis(REDIS_URL!);
        try {
          // Kill only this store's subscriber connection, found by its client name.
          const list = await admin.client('LIST');
          const id = String(list)
            .split('\n')
            .find((l) => l.includes(` name=${name}:sub `))
            ?.match(/^id=(\d+)/)?.[1];
          assert.ok(id, 'subscriber connection not found');
          await admin.client('KILL', 'ID', id);
          await eventually(() => assert.equal(resubscribed, 1), 5000);
          await kv.publish('survive', 'after');
          await eventually(() => assert.deepEqual(got, ['after']));
        } finally {
          admin.disconnect();
          await unsub();
        }
      });
    }
  });
}

/** A loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** A private redis-server, so the test can stop it without disturbing anyone else. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {}); // refused while the server starts: expected, retried below
  try {
    await eventually(async () => {
      if (probe.status !== 'ready') await probe.connect();
      await probe.ping();
    }, 5000);
  } finally {
    probe.disconnect();
  }
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('kv store (redis unreachable)', () => {
  test('commands fail fast instead of hanging', async () => {
    const port = await freePort();
    const kv = createKvStore({ url: `redis://127.0.0.1:${port}`, logger });
    try {
      for (const op of [() => kv.incr('k', 1000), () => kv.incrUnlessBlocked('k', 1000, [{ key: 'g' }]), () => kv.setNx('k', 'v', 1000), () => kv.ping()]) {
        const started = Date.now();
        await assert.rejects(op());
        assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      }
    } finally {
      await kv.close();
    }
  });
});

describe('kv store (redis restarted)', { skip: !hasRedisServer && 'redis-server is not installed' }, () => {
  test('fails fast while Redis is down and recovers when it is back', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    const kv = createKvStore({ url: `redis://127.0.0.1:${port}`, logger });
    try {
      assert.equal((await kv.incr('c', 60_000)).count, 1);
      await stopProcess(server);
      await eventually(async () => {
        const started = Date.now();
        await assert.rejects(kv.incr('c', 60_000));
        assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      });
      server = await startRedis(port);
      // A fresh server without persistence: the counter starts again.
      await eventually(async () => assert.equal((await kv.incr('c2', 60_000)).count, 1), 5000);
    } finally {
      await kv.close();
      await stopProcess(server);
    }
  });
});
