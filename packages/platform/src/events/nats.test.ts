import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { CloudEvent } from './envelope';
import { createNatsTransport } from './nats';
import { createOutboxRelay, enqueueEvents } from './outbox';
import { NATS_URL, createTables, ev, eventually, logger, run, type Db, type TestTables } from './testing';
import type { EventTransport } from './transport';

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

describe('NATS JetStream transport', { skip: !NATS_URL && 'no NATS in this run (embedded backends): set TEST_NATS_URL or run npm test with NATS up' }, () => {
  const stream = `GH_TEST_${run}`;
  const prefix = `ghtest${run}`;
  let t: EventTransport;
  let lite: PGlite;
  let db: Db;

  before(async () => {
    t = await createNatsTransport({ url: NATS_URL!, logger, stream, subjectPrefix: prefix, retryBaseMs: 50, name: 'gatehouse-events-test' });
    lite = new PGlite();
    db = new Kysely<TestTables>({ dialect: new PGliteDialect(lite) });
  });
  after(async () => {
    await t.close();
    await db.destroy();
    await deleteStream(NATS_URL!, stream);
  });

  test('creates the stream with the event subjects, file storage and a 2 minute dedupe window', async () => {
    await t.ping();
    const nc = await connect({ servers: NATS_URL! });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(stream);
      assert.deepEqual(info.config.subjects, [
        `${prefix}.user.events.>`,
        `${prefix}.auth.events.>`,
        `${prefix}.profile.events.>`,
        `${prefix}.attendance.events.>`,
        `${prefix}.social.events.>`,
        `${prefix}.tenant.events.>`,
        `${prefix}.application.events.>`,
        `${prefix}.oauth.events.>`,
      ]);
      assert.equal(info.config.storage, 'file');
      assert.equal(info.config.duplicate_window, 120_000_000_000);
    } finally {
      await nc.close();
    }
    // Connecting again updates nothing and fails nothing.
    const again = await createNatsTransport({ url: NATS_URL!, logger, stream, subjectPrefix: prefix });
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

  test('pending() counts the events not yet delivered to the durable: 0 once it caught up', async () => {
    const durable = `pending-${run}`;
    const got: number[] = [];
    const handler = async (x: CloudEvent) => void got.push((x.data as { n: number }).n);
    let sub = await t.subscribe({ durable, subjects: ['profile.events.>'], handler });
    // a new durable gets what the stream retains (earlier tests' events) first
    await eventually(async () => assert.equal(await sub.pending(), 0));
    await sub.stop();
    const before = got.length;
    for (const n of [101, 102, 103]) await t.publish(ev('profile.events.updated', n));
    // a stopped subscription still answers for its durable (what waits for the next subscriber)
    assert.equal(await sub.pending(), 3);
    sub = await t.subscribe({ durable, subjects: ['profile.events.>'], handler });
    await eventually(() => assert.deepEqual(got.slice(before), [101, 102, 103]));
    assert.equal(await sub.pending(), 0);
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

describe('NATS restart', { skip: !existsSync('/usr/sbin/nats-server') && 'nats-server is not installed' }, () => {
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
