import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Transaction } from 'kysely';
import type { CloudEvent } from './envelope';
import { createMemoryTransport } from './memory';
import { consumeOnce, createOutboxRelay, enqueueEvents } from './outbox';
import { ev, eventually, flaky, logger, testDbs, type TestDb, type TestTables } from './testing';
import type { EventTransport } from './transport';
import { createMetricsRegistry, metricValue } from '../metrics';

describe('outbox, relay and inbox', () => {
  for (const kind of testDbs()) {
    describe(kind.name, () => {
      let d: TestDb;
      before(() => {
        d = kind.open();
      });
      after(() => d.close());

      test('enqueued events commit and roll back with the transaction', async () => {
        const schema = await d.schema();
        const kept = [ev('user.events.created', 1), ev('user.events.updated', 2)];
        await d.db.transaction().execute((trx) => enqueueEvents(trx, schema, kept));
        await assert.rejects(
          d.db.transaction().execute(async (trx) => {
            await enqueueEvents(trx, schema, [ev('user.events.deleted', 3)]);
            throw new Error('rollback');
          }),
        );
        const rows = await d.db.withSchema(schema).selectFrom('outbox').selectAll().orderBy('created_at').execute();
        assert.deepEqual(
          rows.map((r) => r.id),
          kept.map((e) => e.id),
        );
        assert.equal(rows[0]!.subject, 'user.events.created');
        assert.deepEqual(rows[0]!.payload, kept[0]);
        await assert.rejects(enqueueEvents(d.db, schema, [{ ...ev('user.events.created'), id: 'not-a-uuid' }]));
        await enqueueEvents(d.db, schema, []);
      });

      test('the relay publishes every pending row once, in order, and marks it', async () => {
        const schema = await d.schema();
        const t = createMemoryTransport({ logger });
        const got: string[] = [];
        const sub = await t.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const sent: CloudEvent[] = [];
        for (let i = 0; i < 5; i++) {
          const batch = Array.from({ length: 5 }, (_, j) => ev('auth.events.login_succeeded', i * 5 + j));
          sent.push(...batch);
          await d.db.transaction().execute((trx) => enqueueEvents(trx, schema, batch));
        }
        let counted = 0;
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, batchSize: 7, onPublished: (n) => (counted += n) });
        assert.equal(await relay.pending(), 25);
        relay.start();
        relay.nudge();
        await eventually(() => assert.equal(got.length, 25));
        assert.deepEqual(got, sent.map((e) => e.id));
        // onPublished runs once the pass has committed, which can be after the handler got the
        // last event.
        await eventually(() => assert.equal(counted, 25));
        assert.equal(await relay.pending(), 0);
        const unmarked = await d.db.withSchema(schema).selectFrom('outbox').select('id').where('published_at', 'is', null).execute();
        assert.equal(unmarked.length, 0);
        await relay.stop();
        await sub.stop();
        await t.close();
      });

      test('a nudge after commit publishes without waiting for the poll', async () => {
        const schema = await d.schema();
        const t = createMemoryTransport({ logger });
        const got: string[] = [];
        const sub = await t.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, pollMs: 60_000 });
        relay.start();
        await sleep(50); // the first pass found nothing and the relay now waits a minute
        const e = ev('user.events.created');
        await enqueueEvents(d.db, schema, [e]);
        relay.nudge();
        await eventually(() => assert.deepEqual(got, [e.id]), 1000);
        await relay.stop();
        await sub.stop();
        await t.close();
      });

      test('when publishing fails the relay records it, backs off, retries and loses nothing', async () => {
        const schema = await d.schema();
        const inner = createMemoryTransport({ logger });
        const t = flaky(inner);
        const got: string[] = [];
        const sub = await t.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const sent = Array.from({ length: 10 }, (_, i) => ev('user.events.updated', i));
        await enqueueEvents(d.db, schema, sent);
        const registry = createMetricsRegistry();
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, pollMs: 20, registry });
        relay.start();
        await eventually(() => assert.ok(t.failures >= 3));
        assert.ok(((await metricValue(registry, 'gatehouse_outbox_publish_failures_total', { service: schema })) ?? 0) >= 3, 'failures are counted');
        assert.equal(await metricValue(registry, 'gatehouse_outbox_backlog', { service: schema }), 10);
        assert.ok(((await metricValue(registry, 'gatehouse_outbox_oldest_age_seconds', { service: schema })) ?? 0) > 0);
        // Backoff: a handful of attempts in this time, not one per poll.
        const failuresSoFar = t.failures;
        await sleep(300);
        assert.ok(t.failures - failuresSoFar <= 3, `retried ${t.failures - failuresSoFar} times in 300 ms`);
        const first = await d.db.withSchema(schema).selectFrom('outbox').selectAll().where('id', '=', sent[0]!.id).executeTakeFirstOrThrow();
        assert.ok(first.attempts >= 3);
        assert.equal(first.last_error, 'transport down (test)');
        assert.equal(first.published_at, null);
        assert.equal(got.length, 0);
        t.down = false;
        await eventually(() => assert.equal(got.length, 10), 8000);
        assert.deepEqual(got, sent.map((e) => e.id));
        await sleep(100);
        assert.equal(got.length, 10);
        assert.equal(await metricValue(registry, 'gatehouse_outbox_published_total', { service: schema }), 10);
        assert.equal(await metricValue(registry, 'gatehouse_outbox_publish_failures_total', { service: schema }), t.failures);
        assert.equal(await metricValue(registry, 'gatehouse_outbox_backlog', { service: schema }), 0);
        await relay.stop();
        await sub.stop();
        await t.close();
      });

      test('a publish failing mid-batch: the rows before it stay published, it and the rest stay pending, then all arrive once, in order', async () => {
        const schema = await d.schema();
        const inner = createMemoryTransport({ logger });
        const got: string[] = [];
        const sub = await inner.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const sent = Array.from({ length: 6 }, (_, i) => ev('user.events.updated', i));
        await d.db.transaction().execute((trx) => enqueueEvents(trx, schema, sent));
        let failOn: string | undefined = sent[3]!.id;
        const t: EventTransport = {
          ...inner,
          kind: inner.kind,
          async publish(e) {
            if (e.id === failOn) {
              failOn = undefined;
              throw new Error('broken once (test)');
            }
            await inner.publish(e);
          },
        };
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, pollMs: 60_000 });
        relay.start();
        await eventually(() => assert.equal(failOn, undefined));
        const row = (id: string) => d.db.withSchema(schema).selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        // after the failed pass has committed: 0-2 published, 3 failed once, 4-5 untouched
        await eventually(async () => assert.equal((await row(sent[3]!.id)).attempts, 1));
        const failed = await row(sent[3]!.id);
        assert.equal(failed.last_error, 'broken once (test)');
        assert.equal((await row(sent[4]!.id)).attempts, 0);
        assert.equal((await row(sent[4]!.id)).last_error, null);
        await eventually(() => assert.equal(got.length, 6), 8000);
        assert.deepEqual(got, sent.map((e) => e.id));
        // the memory transport delivers before the relay's pass commits its marks
        await eventually(async () => assert.equal(await relay.pending(), 0));
        await relay.stop();
        await sub.stop();
        await inner.close();
      });

      test('stop() publishes everything still pending', async () => {
        const schema = await d.schema();
        const t = createMemoryTransport({ logger });
        const got: string[] = [];
        const sub = await t.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, batchSize: 3 });
        await enqueueEvents(d.db, schema, Array.from({ length: 8 }, (_, i) => ev('tenant.events.updated', i)));
        await relay.stop(); // never started: flushes anyway
        assert.equal(await relay.pending(), 0);
        await eventually(() => assert.equal(got.length, 8));
        await sub.stop();
        await t.close();
      });

      test('stop() gives up after its deadline when the transport is down, keeping the rows', async () => {
        const schema = await d.schema();
        const t = flaky(createMemoryTransport({ logger }));
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, flushTimeoutMs: 300 });
        await enqueueEvents(d.db, schema, [ev('user.events.created')]);
        const started = Date.now();
        await relay.stop();
        assert.ok(Date.now() - started < 1500);
        assert.equal(await relay.pending(), 1);
        await t.close();
      });

      test('two relays on one outbox publish each row exactly once', async () => {
        const schema = await d.schema();
        const t = createMemoryTransport({ logger });
        const got: string[] = [];
        const sub = await t.subscribe({ durable: 'c', subjects: ['>'], handler: async (e) => void got.push(e.id) });
        const counting: EventTransport = { ...t, publish: (e) => t.publish(e) };
        const publishedIds: string[] = [];
        const spy: EventTransport = {
          ...counting,
          async publish(e) {
            publishedIds.push(e.id);
            await sleep(1); // widen the window in which the relays overlap
            await counting.publish(e);
          },
        };
        const a = createOutboxRelay({ db: d.db, schema, transport: spy, logger, pollMs: 10, batchSize: 5 });
        const b = createOutboxRelay({ db: d.db, schema, transport: spy, logger, pollMs: 10, batchSize: 5 });
        a.start();
        b.start();
        const sent: string[] = [];
        for (let i = 0; i < 10; i++) {
          const batch = Array.from({ length: 6 }, (_, j) => ev('social.events.like', i * 6 + j));
          sent.push(...batch.map((e) => e.id));
          await enqueueEvents(d.db, schema, batch);
          a.nudge();
          b.nudge();
        }
        await eventually(() => assert.equal(new Set(got).size, 60), 10_000);
        await Promise.all([a.stop(), b.stop()]);
        assert.equal(publishedIds.length, 60, 'no row was published twice');
        assert.deepEqual(new Set(got), new Set(sent));
        await sub.stop();
        await t.close();
      });

      test('consumeOnce runs the handler once per event, also under parallel duplicates', async () => {
        const schema = await d.schema();
        await sql`create table ${sql.id(schema, 'effects')} (event_id text not null)`.execute(d.db);
        const id = randomUUID();
        const effect = (trx: Transaction<TestTables>) =>
          trx.withSchema(schema).insertInto('effects').values({ event_id: id }).execute().then(() => undefined);
        assert.equal(await consumeOnce(d.db, schema, 'audit', id, effect), true);
        assert.equal(await consumeOnce(d.db, schema, 'audit', id, effect), false);
        // Another consumer of the same event is independent.
        assert.equal(await consumeOnce(d.db, schema, 'users', id, async () => {}), true);
        const id2 = randomUUID();
        const results = await Promise.all(
          Array.from({ length: 10 }, () =>
            consumeOnce(d.db, schema, 'audit', id2, async (trx) => {
              await sleep(5);
              await trx.withSchema(schema).insertInto('effects').values({ event_id: id2 }).execute();
            }),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const effects = await d.db.withSchema(schema).selectFrom('effects').select('event_id').execute();
        assert.equal(effects.filter((r) => r.event_id === id).length, 1);
        assert.equal(effects.filter((r) => r.event_id === id2).length, 1);
      });

      test('consumeOnce records nothing when the handler fails, so a retry runs it', async () => {
        const schema = await d.schema();
        const id = randomUUID();
        await assert.rejects(
          consumeOnce(d.db, schema, 'audit', id, async () => {
            throw new Error('boom');
          }),
        );
        let ran = 0;
        assert.equal(await consumeOnce(d.db, schema, 'audit', id, async () => void ran++), true);
        assert.equal(ran, 1);
      });
    });
  }
});
