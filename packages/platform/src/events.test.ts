import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { pino } from 'pino';
import {
  consumeOnce,
  createMemoryTransport,
  createNatsTransport,
  createOutboxRelay,
  enqueueEvents,
  isCloudEvent,
  makeEvent,
  subjectMatches,
  type CloudEvent,
  type EventTransport,
} from './events';

const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const PG_URL = process.env.TEST_PG_URL;
const logger = pino({ level: 'silent' });
const run = randomBytes(4).toString('hex');

async function eventually(check: () => void | Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

const ev = (type: string, n = 0, tenantId = 't1') =>
  makeEvent({ source: 'test', type, tenantId, subject: `s${n}`, data: { n } });

/** The tables these tests touch: the outbox and inbox, and a side effect of a consumer. */
interface TestTables {
  outbox: {
    id: string;
    subject: string;
    payload: unknown;
    created_at: Date;
    published_at: Date | null;
    attempts: number;
    last_error: string | null;
  };
  inbox: { consumer: string; event_id: string; processed_at: Date };
  effects: { event_id: string };
}
type Db = Kysely<TestTables>;

/** The outbox and inbox tables exactly as the migrations create them. */
async function createTables(db: Db, schema: string): Promise<void> {
  await sql`create schema ${sql.id(schema)}`.execute(db);
  await sql`create table ${sql.id(schema, 'outbox')} (id uuid primary key, subject text not null, payload jsonb not null, created_at timestamptz not null default now(), published_at timestamptz, attempts int not null default 0, last_error text)`.execute(
    db,
  );
  await sql`create index outbox_pending on ${sql.id(schema, 'outbox')} (created_at) where published_at is null`.execute(db);
  await sql`create table ${sql.id(schema, 'inbox')} (consumer text not null, event_id text not null, processed_at timestamptz not null default now(), primary key (consumer, event_id))`.execute(
    db,
  );
}

interface TestDb {
  name: string;
  db: Db;
  /** a fresh schema with empty outbox and inbox */
  schema(): Promise<string>;
  close(): Promise<void>;
}

/** PGlite always, real PostgreSQL too when TEST_PG_URL is set. Opened lazily, in hooks. */
function testDbs(): Array<{ name: string; open(): TestDb }> {
  let n = 0;
  const kinds = [
    {
      name: 'pglite',
      open(): TestDb {
        const db = new Kysely<TestTables>({ dialect: new PGliteDialect(new PGlite()) });
        return {
          name: 'pglite',
          db,
          async schema() {
            const s = `gh_events_test_${run}_${n++}`;
            await createTables(db, s);
            return s;
          },
          close: () => db.destroy(),
        };
      },
    },
  ];
  if (PG_URL) {
    kinds.push({
      name: 'postgresql',
      open(): TestDb {
        const db = new Kysely<TestTables>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, max: 12 }) }) });
        const made: string[] = [];
        return {
          name: 'postgresql',
          db,
          async schema() {
            const s = `gh_events_test_${run}_${n++}`;
            await createTables(db, s);
            made.push(s);
            return s;
          },
          async close() {
            for (const s of made) await sql`drop schema ${sql.id(s)} cascade`.execute(db);
            await db.destroy();
          },
        };
      },
    });
  }
  return kinds;
}

/** A transport wrapper whose publish fails while `down` is set. */
function flaky(inner: EventTransport): EventTransport & { down: boolean; failures: number } {
  const t = {
    kind: inner.kind,
    down: true,
    failures: 0,
    async publish(e: CloudEvent) {
      if (t.down) {
        t.failures += 1;
        throw new Error('transport down (test)');
      }
      await inner.publish(e);
    },
    subscribe: inner.subscribe.bind(inner),
    ping: inner.ping.bind(inner),
    close: inner.close.bind(inner),
  };
  return t;
}

describe('CloudEvents envelope', () => {
  test('makeEvent fills the required attributes', () => {
    const e = makeEvent({ source: 'auth', type: 'auth.events.logout', tenantId: 'ten', subject: 'u1', data: { a: 1 } });
    assert.equal(e.specversion, '1.0');
    assert.match(e.id, /^[0-9a-f-]{36}$/);
    assert.equal(e.datacontenttype, 'application/json');
    assert.equal(e.tenantid, 'ten');
    assert.ok(!Number.isNaN(Date.parse(e.time)));
    assert.ok(isCloudEvent(e));
    assert.ok(isCloudEvent(JSON.parse(JSON.stringify(e))));
    const fixed = makeEvent({ source: 's', type: 'user.events.created', tenantId: 't', data: null, id: 'x', time: new Date(0) });
    assert.equal(fixed.id, 'x');
    assert.equal(fixed.time, '1970-01-01T00:00:00.000Z');
    assert.equal('subject' in fixed, false);
  });

  test('makeEvent refuses types outside the stream and missing attributes', () => {
    for (const type of ['billing.events.x', 'user.events', 'user.events.*', 'user.events.>', 'user events.x', 'user..events.x']) {
      assert.throws(() => makeEvent({ source: 's', type, tenantId: 't', data: {} }), /not a subject/, type);
    }
    assert.throws(() => makeEvent({ source: '', type: 'user.events.created', tenantId: 't', data: {} }));
    assert.throws(() => makeEvent({ source: 's', type: 'user.events.created', tenantId: '', data: {} }));
  });

  test('isCloudEvent rejects anything missing a required attribute', () => {
    const good = ev('user.events.created');
    assert.equal(isCloudEvent(null), false);
    assert.equal(isCloudEvent('x'), false);
    assert.equal(isCloudEvent([]), false);
    for (const key of ['specversion', 'id', 'source', 'type', 'time', 'tenantid', 'datacontenttype', 'data']) {
      const copy: Record<string, unknown> = { ...good };
      delete copy[key];
      assert.equal(isCloudEvent(copy), false, `without ${key}`);
    }
    assert.equal(isCloudEvent({ ...good, specversion: '0.3' }), false);
    assert.equal(isCloudEvent({ ...good, time: 'yesterday' }), false);
    assert.equal(isCloudEvent({ ...good, subject: 5 }), false);
  });

  test('subject patterns follow NATS wildcard semantics', () => {
    const cases: Array<[string, string, boolean]> = [
      ['user.events.created', 'user.events.created', true],
      ['user.events.created', 'user.events.updated', false],
      ['user.events.*', 'user.events.created', true],
      ['user.events.*', 'user.events.created.extra', false],
      ['user.events.*', 'user.events', false],
      ['*.events.*', 'auth.events.logout', true],
      ['user.events.>', 'user.events.created', true],
      ['user.events.>', 'user.events.a.b.c', true],
      ['user.events.>', 'user.events', false],
      ['>', 'anything.at.all', true],
      ['*.events.>', 'social.events.like', true],
      ['*.events.>', 'social.other.like', false],
      ['user.*.created', 'user.events.created', true],
      ['user', 'user.events', false],
    ];
    for (const [p, s, want] of cases) assert.equal(subjectMatches(p, s), want, `${p} ~ ${s}`);
  });
});

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
        assert.equal(counted, 25);
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
        const relay = createOutboxRelay({ db: d.db, schema, transport: t, logger, pollMs: 20 });
        relay.start();
        await eventually(() => assert.ok(t.failures >= 3));
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
        await relay.stop();
        await sub.stop();
        await t.close();
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

/** Delete the test stream, whatever happened. */
async function deleteStream(url: string, stream: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

describe('NATS JetStream transport', () => {
  const stream = `GH_TEST_${run}`;
  const prefix = `ghtest${run}`;
  let t: EventTransport;
  let lite: PGlite;
  let db: Db;

  before(async () => {
    t = await createNatsTransport({ url: NATS_URL, logger, stream, subjectPrefix: prefix, retryBaseMs: 50, name: 'gatehouse-events-test' });
    lite = new PGlite();
    db = new Kysely<TestTables>({ dialect: new PGliteDialect(lite) });
  });
  after(async () => {
    await t.close();
    await db.destroy();
    await deleteStream(NATS_URL, stream);
  });

  test('creates the stream with the event subjects, file storage and a 2 minute dedupe window', async () => {
    await t.ping();
    const nc = await connect({ servers: NATS_URL });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(stream);
      assert.deepEqual(info.config.subjects, [
        `${prefix}.user.events.>`,
        `${prefix}.auth.events.>`,
        `${prefix}.profile.events.>`,
        `${prefix}.attendance.events.>`,
        `${prefix}.social.events.>`,
        `${prefix}.tenant.events.>`,
      ]);
      assert.equal(info.config.storage, 'file');
      assert.equal(info.config.duplicate_window, 120_000_000_000);
    } finally {
      await nc.close();
    }
    // Connecting again updates nothing and fails nothing.
    const again = await createNatsTransport({ url: NATS_URL, logger, stream, subjectPrefix: prefix });
    await again.close();
  });

  test('the relay publishes enqueued rows and a durable consumer gets each exactly once', async () => {
    const schema = `relay_${run}`;
    await createTables(db, schema);
    const sent: CloudEvent[] = [];
    for (let i = 0; i < 4; i++) {
      const batch = Array.from({ length: 5 }, (_, j) => ev('user.events.created', i * 5 + j));
      sent.push(...batch);
      await db.transaction().execute((trx) => enqueueEvents(trx, schema, batch));
    }
    const relay = createOutboxRelay({ db, schema, transport: t, logger });
    relay.start();
    relay.nudge();
    const got: CloudEvent[] = [];
    const sub = await t.subscribe({ durable: `relay-${run}`, subjects: ['user.events.>'], handler: async (e) => void got.push(e) });
    await eventually(() => assert.equal(got.length, 20));
    await sleep(300);
    assert.deepEqual(
      got.map((e) => e.id),
      sent.map((e) => e.id),
    );
    assert.deepEqual(got[3], sent[3]);
    assert.equal(await relay.pending(), 0);
    await relay.stop();
    await sub.stop();
  });

  test('publishing the same event twice delivers it once (Nats-Msg-Id)', async () => {
    const e = ev('profile.events.updated', 7);
    await t.publish(e);
    await t.publish(e);
    await t.publish(ev('profile.events.updated', 8));
    const got: CloudEvent[] = [];
    const sub = await t.subscribe({ durable: `dedupe-${run}`, subjects: ['profile.events.*'], handler: async (x) => void got.push(x) });
    await eventually(() => assert.equal(got.length, 2));
    await sleep(300);
    assert.deepEqual(
      got.map((x) => (x.data as { n: number }).n),
      [7, 8],
    );
    await sub.stop();
  });

  test('a throwing handler gets the event again; the durable remembers acks across restarts', async () => {
    const durable = `retry-${run}`;
    let calls = 0;
    const handled: number[] = [];
    const handler = async (x: CloudEvent) => {
      calls++;
      if (calls === 1) throw new Error('first delivery fails');
      handled.push((x.data as { n: number }).n);
    };
    await t.publish(ev('attendance.events.checked_in', 1));
    let sub = await t.subscribe({ durable, subjects: ['attendance.events.>'], handler });
    await eventually(() => assert.deepEqual(handled, [1]));
    assert.equal(calls, 2);
    await sub.stop();
    await t.publish(ev('attendance.events.checked_out', 2));
    sub = await t.subscribe({ durable, subjects: ['attendance.events.>'], handler });
    await eventually(() => assert.deepEqual(handled, [1, 2]));
    await sleep(300);
    assert.deepEqual(handled, [1, 2]);
    await sub.stop();
  });

  test('a durable with several subjects receives only those', async () => {
    await t.publish(ev('social.events.like', 1));
    await t.publish(ev('tenant.events.created', 2));
    await t.publish(ev('social.events.comment', 3));
    await t.publish(ev('auth.events.logout', 4));
    const got: number[] = [];
    const sub = await t.subscribe({
      durable: `multi-${run}`,
      subjects: ['social.events.like', 'auth.events.*'],
      handler: async (x) => void got.push((x.data as { n: number }).n),
    });
    await eventually(() => assert.deepEqual(got, [1, 4]));
    await sleep(300);
    assert.deepEqual(got, [1, 4]);
    await sub.stop();
  });

  test('rejects bad durable names', async () => {
    await assert.rejects(t.subscribe({ durable: 'a.b', subjects: ['user.events.>'], handler: async () => {} }));
  });
});

/** A private nats-server, so the test can stop and start it without disturbing others. */
async function startNats(port: number, storeDir: string): Promise<ChildProcess> {
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
  await eventually(
    () =>
      new Promise<void>((resolve, reject) => {
        const s = createConnection({ host: '127.0.0.1', port }, () => {
          s.end();
          resolve();
        });
        s.on('error', reject);
      }),
    10_000,
  );
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('NATS restart', () => {
  test('publish fails while NATS is down, the relay keeps the rows, and everything arrives after the restart', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const storeDir = await mkdtemp(join(tmpdir(), 'gh-nats-'));
    const url = `nats://127.0.0.1:${port}`;
    let server = await startNats(port, storeDir);
    const t = await createNatsTransport({ url, logger, retryBaseMs: 50 });
    const lite = new PGlite();
    const db = new Kysely<TestTables>({ dialect: new PGliteDialect(lite) });
    const relay = createOutboxRelay({ db, schema: 'svc', transport: t, logger, pollMs: 50 });
    try {
      await createTables(db, 'svc');
      const got: string[] = [];
      const sub = await t.subscribe({ durable: 'restart', subjects: ['user.events.>'], handler: async (e) => void got.push(e.id) });
      const before = ev('user.events.created', 0);
      await t.publish(before);
      await eventually(() => assert.deepEqual(got, [before.id]));
      relay.start();

      await stopProcess(server);
      await eventually(() => assert.rejects(t.publish(ev('user.events.created', 99)), /disconnected/));
      await assert.rejects(t.ping());
      const during = Array.from({ length: 5 }, (_, i) => ev('user.events.updated', i + 1));
      await enqueueEvents(db, 'svc', during);
      relay.nudge();
      await sleep(500);
      assert.equal(await relay.pending(), 5);
      const row = await db.withSchema('svc').selectFrom('outbox').selectAll().orderBy('created_at').executeTakeFirstOrThrow();
      assert.ok(row.attempts >= 1);
      assert.match(row.last_error ?? '', /disconnected/);

      server = await startNats(port, storeDir);
      await eventually(() => assert.equal(got.length, 6), 15_000);
      assert.deepEqual(got, [before.id, ...during.map((e) => e.id)]);
      assert.equal(await relay.pending(), 0);
      await t.ping();
      await sub.stop();
    } finally {
      await relay.stop();
      await t.close();
      await db.destroy();
      await stopProcess(server);
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});
