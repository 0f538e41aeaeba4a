import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudEvent } from './envelope';
import { createMemoryTransport } from './memory';
import { ev, eventually, logger } from './testing';

describe('memory transport', () => {
  test('each durable gets the events its patterns match, in order', async () => {
    const t = createMemoryTransport({ logger });
    const got: Record<string, string[]> = { users: [], auth: [], all: [], logins: [] };
    const subs = await Promise.all([
      t.subscribe({ durable: 'users', subjects: ['user.events.*'], handler: async (e) => void got.users!.push(e.type) }),
      t.subscribe({ durable: 'auth', subjects: ['auth.events.>'], handler: async (e) => void got.auth!.push(e.type) }),
      t.subscribe({ durable: 'all', subjects: ['*.events.>'], handler: async (e) => void got.all!.push(e.type) }),
      t.subscribe({
        durable: 'logins',
        subjects: ['auth.events.login_succeeded', 'auth.events.login_failed'],
        handler: async (e) => void got.logins!.push(e.type),
      }),
    ]);
    const types = ['user.events.created', 'auth.events.login_succeeded', 'profile.events.updated', 'auth.events.logout', 'auth.events.login_failed', 'user.events.deleted'];
    for (const type of types) await t.publish(ev(type));
    await eventually(() => assert.equal(got.all!.length, types.length));
    assert.deepEqual(got.all, types);
    assert.deepEqual(got.users, ['user.events.created', 'user.events.deleted']);
    assert.deepEqual(got.auth, ['auth.events.login_succeeded', 'auth.events.logout', 'auth.events.login_failed']);
    assert.deepEqual(got.logins, ['auth.events.login_succeeded', 'auth.events.login_failed']);
    for (const s of subs) await s.stop();
    await t.close();
  });

  test('a throwing handler gets the event again with backoff; others are not blocked', async () => {
    const t = createMemoryTransport({ logger, retryBaseMs: 20 });
    const attempts = new Map<string, number>();
    const done: number[] = [];
    const sub = await t.subscribe({
      durable: 'flaky',
      subjects: ['user.events.>'],
      handler: async (e) => {
        const n = (attempts.get(e.id) ?? 0) + 1;
        attempts.set(e.id, n);
        const data = e.data as { n: number };
        if (data.n === 1 && n < 3) throw new Error('not yet');
        done.push(data.n);
      },
    });
    for (let i = 0; i < 3; i++) await t.publish(ev('user.events.created', i));
    await eventually(() => assert.deepEqual([...done].sort(), [0, 1, 2]));
    assert.deepEqual(done.slice(0, 2), [0, 2], 'the failing event did not block the next');
    assert.equal([...attempts.values()].reduce((a, b) => a + b), 5);
    await sub.stop();
    await t.close();
  });

  test('a handler that throws synchronously is retried, and stop() waits for a running handler', async () => {
    const t = createMemoryTransport({ logger, retryBaseMs: 10 });
    let calls = 0;
    let finished = false;
    const sub = await t.subscribe({
      durable: 'sync',
      subjects: ['user.events.>'],
      handler: (e) => {
        calls++;
        if (calls === 1) throw new Error('sync failure');
        return sleep(100).then(() => {
          finished = (e.data as { n: number }).n === 5;
        });
      },
    });
    await t.publish(ev('user.events.created', 5));
    await eventually(() => assert.equal(calls, 2));
    await sub.stop();
    assert.equal(finished, true, 'stop() returned before the handler finished');
    await t.close();
  });

  test('pending() counts the matching events not yet delivered to the durable', async () => {
    const t = createMemoryTransport({ logger });
    const got: number[] = [];
    const handler = async (e: CloudEvent) => void got.push((e.data as { n: number }).n);
    let sub = await t.subscribe({ durable: 'p', subjects: ['user.events.>'], handler });
    assert.equal(await sub.pending(), 0);
    await sub.stop();
    for (const n of [1, 2, 3]) await t.publish(ev('user.events.updated', n));
    await t.publish(ev('auth.events.logout', 4)); // not the durable's
    assert.equal(await sub.pending(), 3);
    sub = await t.subscribe({ durable: 'p', subjects: ['user.events.>'], handler });
    await eventually(() => assert.deepEqual(got, [1, 2, 3]));
    assert.equal(await sub.pending(), 0);
    await sub.stop();
    await t.close();
  });

  test('a new durable catches up, a restarted one resumes, and a repeated id is delivered once', async () => {
    const t = createMemoryTransport({ logger });
    const early = ev('user.events.created', 1);
    await t.publish(early);
    await t.publish(early); // same id: deduplicated like Nats-Msg-Id
    const got: number[] = [];
    const handler = async (e: CloudEvent) => void got.push((e.data as { n: number }).n);
    let sub = await t.subscribe({ durable: 'late', subjects: ['user.events.>'], handler });
    await eventually(() => assert.deepEqual(got, [1]));
    await sub.stop();
    await t.publish(ev('user.events.updated', 2));
    await sleep(20);
    assert.deepEqual(got, [1]);
    sub = await t.subscribe({ durable: 'late', subjects: ['user.events.>'], handler });
    await eventually(() => assert.deepEqual(got, [1, 2]));
    await sub.stop();
    await t.close();
    await assert.rejects(t.publish(ev('user.events.updated', 3)));
  });
});
