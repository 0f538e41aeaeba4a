/**
 * Regression test of issue 9, defect 5: a burst of parallel logins answered 500
 * `internal_error` (pg-pool "timeout exceeded when trying to connect"). The service runs here
 * with a deliberately small database pool, a short wait for a connection and a small hashing
 * queue, so the burst really overloads it: every answer must be a success or a 503/429 with
 * Retry-After, never another 5xx.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWorkQueue } from '@gatehouse/platform/workqueue';
import { AppError } from '@gatehouse/platform/errors';
import { startAuth, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth({
    DATABASE_POOL_SIZE: '2',
    // short enough that the burst of 200 still times out waiting for one of 2 connections, long
    // enough that the first few get one on a loaded machine (250 ms shed all 200 at load 25)
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    PASSWORD_HASH_CONCURRENCY: '2',
    PASSWORD_HASH_QUEUE: '8',
    // the admitted logins are not dropped for waiting, however slow the machine is today
    PASSWORD_HASH_MAX_WAIT_MS: '60000',
  });
});
after(async () => {
  await h.close();
});

test('200 parallel logins on a small pool: no 5xx but 503 overloaded, each shed answer with Retry-After; the service recovers', async () => {
  const accounts: Array<Awaited<ReturnType<Harness['register']>>> = [];
  for (let i = 0; i < 10; i++) accounts.push(await h.register());
  const burst = await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const a = accounts[i % accounts.length]!;
      // a third of them with a wrong password: failures do database writes too
      return h.request('POST', '/api/v1/auth/login', { body: { email: a.email, password: i % 3 === 0 ? 'wrong password' : a.password } });
    }),
  );
  const counts: Record<number, number> = {};
  for (const res of burst) {
    counts[res.statusCode] = (counts[res.statusCode] ?? 0) + 1;
    assert.ok(res.statusCode < 500 || res.statusCode === 503, `${res.statusCode} ${res.body}`);
    if (res.statusCode === 503 || res.statusCode === 429) {
      assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/, `Retry-After on ${res.body}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
    if (res.statusCode === 503) assert.ok(['overloaded', 'service_unavailable'].includes(res.json().code), res.body);
  }
  // the admitted ones are answered (200, or 401 for a wrong password), the rest is shed
  assert.ok((counts[200] ?? 0) + (counts[401] ?? 0) > 0, `some logins are answered: ${JSON.stringify(counts)}`);
  assert.ok((counts[503] ?? 0) > 0, `the overload path was taken: ${JSON.stringify(counts)}`);

  // once the burst is over, the service is healthy again
  const after = await h.request('POST', '/api/v1/auth/login', { body: { email: accounts[0]!.email, password: accounts[0]!.password } });
  assert.equal(after.statusCode, 200, after.body);
});

test('the work queue: at most `concurrency` run, at most `maxPending` wait, the rest is refused with 503 overloaded at once', async () => {
  const q = createWorkQueue({ concurrency: 2, maxPending: 3, maxWaitMs: 60_000 });
  let running = 0;
  let peak = 0;
  const release: Array<() => void> = [];
  const job = () =>
    q.run(
      () =>
        new Promise<string>((resolve) => {
          running += 1;
          peak = Math.max(peak, running);
          release.push(() => {
            running -= 1;
            resolve('done');
          });
        }),
    );
  const jobs = Array.from({ length: 8 }, () => job().catch((err: unknown) => err));
  await new Promise((r) => setImmediate(r));
  assert.equal(q.active, 2);
  assert.equal(q.pending, 3);
  // drain: each release lets the next waiting job start
  while (release.length > 0 || q.active > 0) {
    release.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  const results = await Promise.all(jobs);
  assert.equal(results.filter((r) => r === 'done').length, 5);
  const refused = results.filter((r): r is AppError => r instanceof AppError);
  assert.equal(refused.length, 3);
  for (const e of refused) {
    assert.equal(e.code, 'overloaded');
    assert.equal(e.status, 503);
    assert.match(e.headers?.['retry-after'] ?? '', /^[1-9]\d*$/);
  }
  assert.equal(peak, 2);
});

test('maxPending 0: a free slot still runs the job, nothing waits', async () => {
  const q = createWorkQueue({ concurrency: 1, maxPending: 0, maxWaitMs: 60_000 });
  let release!: () => void;
  const first = q.run(() => new Promise<string>((r) => (release = () => r('ran'))));
  await assert.rejects(q.run(async () => 'never'), (err: AppError) => err.code === 'overloaded');
  release();
  assert.equal(await first, 'ran');
  assert.equal(await q.run(async () => 'again'), 'again');
});

test('a job that waited longer than maxWaitMs is refused instead of started', async () => {
  const q = createWorkQueue({ concurrency: 1, maxPending: 10, maxWaitMs: 20 });
  let started = 0;
  const slow = q.run(() => new Promise((r) => setTimeout(r, 60)));
  const late = q.run(async () => {
    started += 1;
  });
  await slow;
  await assert.rejects(late, (err: AppError) => err.code === 'overloaded');
  assert.equal(started, 0);
});
