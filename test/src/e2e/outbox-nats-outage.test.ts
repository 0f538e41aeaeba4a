/**
 * Issues 2 and 5, NATS outage: the event bus goes away, sign-ups keep working, and nothing is
 * lost or doubled once it is back. Guards the transactional outbox (the user and its
 * `user.events.created` commit together and wait in the outbox), the relay's retries, the
 * JetStream `Nats-Msg-Id` dedupe and the consumers' idempotent inbox, end to end.
 *
 * The test runs a nats-server of its own so it can stop and start it without disturbing other
 * test files; the database and Redis are the run's (real when it has them).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { isCloudEvent } from '@gatehouse/platform/events';
import { auditEntriesOfType, call, eventually, login, mapLimit, register, type Account } from '../client';
import { natsServerMissing, startNatsServer, type NatsServer } from './nats-server';
import { describeBackends, startTestSystem, type TestSystem } from '../system';

const USERS = 200;
const CREATED = 'user.events.created';

/** Pending (unpublished) outbox rows of the auth service with this subject. */
async function pendingInAuthOutbox(system: TestSystem, subject: string): Promise<number> {
  const row = await system.auth.deps.db.admin
    .withSchema('auth')
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('published_at', 'is', null)
    .where('subject', '=', subject)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const skip = natsServerMissing();

describe('e2e: outbox across a NATS outage', { skip }, () => {
  let nats: NatsServer;
  let system: TestSystem;

  before(async () => {
    nats = await startNatsServer();
    system = await startTestSystem({ natsUrl: nats.url });
  });
  after(async () => {
    // NATS must be up for the relays to flush and the stream to be removed.
    if (nats && !nats.running) await nats.start().catch(() => {});
    await system?.close();
    await nats?.close();
  });

  test(`${USERS} registrations while NATS is down: all 201, held in the outbox, each published and consumed once after`, { timeout: 240_000 }, async (t) => {
    t.diagnostic(`backends: ${describeBackends(system)} (own nats-server ${nats.url})`);
    const url = system.url;
    const admin = await login(url, system.admin.email, system.admin.password);
    // The superadmin made at start is in the audit log before the outage: the baseline.
    await eventually(async () => assert.equal((await auditEntriesOfType(url, admin.accessToken, CREATED)).length, 1), 20_000);

    await nats.stop();
    await eventually(() => assert.rejects(system.shared.transport.ping()), 10_000);

    const registering = Date.now();
    const accounts = await mapLimit(Array.from({ length: USERS }, (_, i) => i), 8, () => register(url));
    assert.equal(accounts.length, USERS, 'every registration answered 201 with NATS down');
    t.diagnostic(`${USERS} registrations with NATS down: ${Date.now() - registering} ms`);
    assert.equal(new Set(accounts.map((a) => a.id)).size, USERS);
    assert.equal(await pendingInAuthOutbox(system, CREATED), USERS, 'the outbox holds one user.events.created per sign-up');
    assert.equal((await auditEntriesOfType(url, admin.accessToken, CREATED)).length, 1, 'nothing reached the audit log meanwhile');

    const restarted = Date.now();
    await nats.start();

    await eventually(async () => assert.equal(await pendingInAuthOutbox(system, CREATED), 0), 60_000, 250);
    t.diagnostic(`from NATS restart to an empty outbox: ${Date.now() - restarted} ms`);
    const ids = new Set(accounts.map((a) => a.id));
    await eventually(async () => {
      const entries = await auditEntriesOfType(url, admin.accessToken, CREATED);
      assert.equal(entries.filter((e) => ids.has(e.subjectId)).length, USERS);
    }, 60_000, 250);
    t.diagnostic(`from NATS restart to every entry in the audit log: ${Date.now() - restarted} ms`);
    // Redeliveries would land late: give them time, then count exactly.
    await sleep(1500);
    const entries = await auditEntriesOfType(url, admin.accessToken, CREATED);
    assert.equal(entries.length, USERS + 1, 'exactly one entry per account (and the superadmin), no duplicates');
    assert.equal(new Set(entries.map((e) => e.eventId)).size, entries.length);
    assert.deepEqual(new Set(entries.filter((e) => ids.has(e.subjectId)).map((e) => e.subjectId)), ids);

    const verify = await call(url, 'GET', '/api/v1/audit/verify', { token: admin.accessToken });
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, 'the hash chain is intact');

    await assertStreamHoldsEachOnce(system, accounts);
    await assertProfiles(system, admin.accessToken, accounts);
  });
});

/** The stream has one message per account on user.events.created, each a valid CloudEvent with Nats-Msg-Id = id. */
async function assertStreamHoldsEachOnce(system: TestSystem, accounts: Account[]): Promise<void> {
  const { url, stream, subjectPrefix } = system.nats!;
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const subject = `${subjectPrefix}.${CREATED}`;
    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    assert.equal(info.state.subjects?.[subject], USERS + 1, 'the stream holds each user.events.created once (JetStream dedupe by Nats-Msg-Id)');

    const byUser = new Map<string, string>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (!m || m.subject !== subject) continue;
      const event = m.json<Record<string, unknown>>();
      assert.ok(isCloudEvent(event), `seq ${seq} is a CloudEvent 1.0 envelope`);
      assert.equal(event.specversion, '1.0');
      assert.equal(event.type, CREATED);
      assert.equal(event.datacontenttype, 'application/json');
      assert.equal(event.tenantid, DEFAULT_TENANT_ID);
      assert.match(event.source, /\S/);
      assert.ok(!Number.isNaN(Date.parse(event.time)));
      assert.equal(m.header?.get('Nats-Msg-Id'), event.id, 'the JetStream dedupe key is the event id');
      const data = event.data as { id: string; email: string };
      assert.equal(event.subject, data.id);
      assert.equal(byUser.has(data.id), false, `one event for user ${data.id}`);
      byUser.set(data.id, data.email);
    }
    for (const a of accounts) assert.equal(byUser.get(a.id), a.email, `the stream has ${a.email}`);
  } finally {
    await nc.close();
  }
}

/** The users service learnt every account from the events: each has a profile. */
async function assertProfiles(system: TestSystem, token: string, accounts: Account[]): Promise<void> {
  await eventually(async () => {
    const missing = (
      await mapLimit(accounts, 16, async (a) => {
        const r = await call(system.url, 'GET', `/api/v1/users/${a.id}`, { token });
        return r.status === 200 && r.body.id === a.id ? undefined : `${a.id}: ${r.status}`;
      })
    ).filter(Boolean);
    assert.deepEqual(missing, [], 'every account has a profile in the users service');
  }, 30_000, 500);
}
