import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { jetstream } from '@nats-io/jetstream';
import type { EventTransport } from '@gatehouse/platform/events';
import {
  countEntries,
  createAuditTestDatabase,
  createTestShared,
  createTestTokens,
  createTestTransport,
  eventually,
  startAudit,
  testEvent,
} from '../../testing';
import { mapEvent } from './ingest.mapping';
import { UNATTRIBUTED_TENANT, listDeadLetters } from './ingest.queries';

type TestDb = Awaited<ReturnType<typeof createAuditTestDatabase>>;

describe('mapping (pure)', () => {
  test('who, what, when, where come from the event; secrets never reach the entry', () => {
    const tenant = randomUUID();
    const user = randomUUID();
    const e = testEvent(tenant, 'auth.events.login_failed', {
      userId: user, ip: '198.51.100.4', userAgent: 'Mozilla/5.0', requestId: 'r-1', reason: 'invalid_credentials', password: 'hunter2',
    }, { subject: user, time: new Date('2025-03-01T10:00:00.123456Z') });
    const m = mapEvent(e);
    assert.ok(m.ok);
    assert.equal(m.tenantId, tenant);
    assert.deepEqual({ ...m.input, data: undefined }, {
      eventId: e.id, type: 'auth.events.login_failed', actorId: user, subjectId: user, ip: '198.51.100.4',
      userAgent: 'Mozilla/5.0', requestId: 'r-1', data: undefined, occurredAt: new Date('2025-03-01T10:00:00.123Z'),
    });
    assert.equal('password' in m.input.data, false);
    assert.equal(m.input.data.reason, 'invalid_credentials');
  });

  test('actor falls back from data.actorId to data.userId to the event subject', () => {
    const t = randomUUID();
    const m1 = mapEvent(testEvent(t, 'user.events.updated', { actorId: 'admin-1', userId: 'u-1' }, { subject: 's-1' }));
    const m2 = mapEvent(testEvent(t, 'user.events.updated', { userId: 'u-1' }, { subject: 's-1' }));
    const m3 = mapEvent(testEvent(t, 'user.events.updated', { id: 'x' }, { subject: 's-1' }));
    assert.ok(m1.ok && m2.ok && m3.ok);
    assert.equal(m1.input.actorId, 'admin-1');
    assert.equal(m2.input.actorId, 'u-1');
    assert.equal(m3.input.actorId, 's-1');
  });

  test('malformed events and non-UUID tenants are refused with a reason', () => {
    assert.match((mapEvent('nonsense') as { reason: string }).reason, /not a CloudEvent/);
    assert.match((mapEvent({ specversion: '1.0', id: 'x' }) as { reason: string }).reason, /not a CloudEvent/);
    assert.match((mapEvent({ ...testEvent(randomUUID(), 'user.events.created'), tenantid: 'acme' }) as { reason: string }).reason, /unknown tenant/);
    assert.match((mapEvent({ ...testEvent(randomUUID(), 'user.events.created'), type: 'bad type!' }) as { reason: string }).reason, /subject/);
  });

  test('data whose request context breaks the event contract is refused with the field, not logged half-read', () => {
    const t = randomUUID();
    const wrongType = mapEvent(testEvent(t, 'auth.events.login_failed', { userId: 42, ip: '198.51.100.4' }));
    assert.equal(wrongType.ok, false);
    assert.match((wrongType as { reason: string }).reason, /event contract.*\/userId/);
    const notAnObject = mapEvent({ ...testEvent(t, 'auth.events.logout'), data: ['a', 'list'] });
    assert.match((notAnObject as { reason: string }).reason, /event contract/);
    // absent context and null values are within the contract
    assert.ok(mapEvent({ ...testEvent(t, 'auth.events.logout'), data: null }).ok);
    assert.ok(mapEvent(testEvent(t, 'tenant.events.updated', { id: randomUUID(), userAgent: null, requestId: 'cli' })).ok);
  });
});

describe('ingestion', () => {
  let t: TestDb;
  const tokens = createTestTokens();

  before(async () => {
    t = await createAuditTestDatabase();
  });
  after(async () => {
    await t.drop();
  });

  /** A started audit service with a transport of its own. */
  async function setup() {
    const tt = await createTestTransport();
    const shared = await createTestShared(tt.transport);
    const audit = await startAudit(t.db, shared, { jwks: (await tokens).jwks });
    return {
      tt,
      shared,
      audit,
      async close() {
        await audit.close();
        await shared.close();
        await tt.cleanup();
      },
    };
  }

  test('the same event ingested twice (redelivery) makes one entry', async () => {
    const s = await setup();
    try {
      const tenant = randomUUID();
      const e = testEvent(tenant, 'user.events.created', { id: randomUUID(), email: 'a@example.test', action: 'created' });
      assert.equal(await s.audit.deps.ingest.handle(e), 'ingested');
      assert.equal(await s.audit.deps.ingest.handle(e), 'duplicate');
      assert.equal(await s.audit.deps.ingest.handle(structuredClone(e)), 'duplicate');
      assert.equal(await countEntries(t.db, tenant), 1);
    } finally {
      await s.close();
    }
  });

  test('1,000 events for one tenant ingested concurrently: seq gapless, chain verifies', async () => {
    const s = await setup();
    try {
      const tenant = randomUUID();
      const events = Array.from({ length: 1000 }, (_, i) => testEvent(tenant, 'attendance.events.checked_in', { userId: randomUUID(), n: i }));
      const outcomes = await Promise.all(events.map((e) => s.audit.deps.ingest.handle(e)));
      assert.equal(outcomes.filter((o) => o === 'ingested').length, 1000);
      const seqs = (await t.db.admin.selectFrom('entries').select('seq').where('tenant_id', '=', tenant).orderBy('seq').execute()).map((r) => Number(r.seq));
      assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => i + 1));
      assert.deepEqual(await s.audit.deps.chain.verify(tenant), { ok: true, checked: 1000 });
    } finally {
      await s.close();
    }
  });

  test('dead letters are parked under RLS (issue 9, defect 9): filed under the claimed tenant, seen by it alone', async () => {
    const s = await setup();
    try {
      const [a, b] = [randomUUID(), randomUUID()];
      // a CloudEvent of tenant a that cannot become an entry (its type is no subject)
      const poison = { ...testEvent(a, 'user.events.created', { id: randomUUID() }), type: 'bad type!' };
      assert.equal(await s.audit.deps.ingest.handle(poison), 'dead_letter');
      const db = t.db;
      const mine = await db.withTenant(a, (trx) => listDeadLetters(trx));
      assert.deepEqual(
        mine.map((l) => [l.event_id, l.tenant_id, l.claimed_tenant]),
        [[poison.id, a, a]],
        'tenant a sees its dead letter through RLS',
      );
      assert.deepEqual(await db.withTenant(b, (trx) => listDeadLetters(trx)), [], 'tenant b sees none of it');
      // the writer runs as the application role: it cannot file a letter under another tenant
      await assert.rejects(
        db.withTenant(b, (trx) =>
          trx.insertInto('dead_letters').values({ id: randomUUID(), tenant_id: a, reason: 'planted', payload: '{}' }).execute(),
        ),
        /row-level security/,
      );
    } finally {
      await s.close();
    }
  });

  test('poison messages are parked as dead letters with the reason, once, and acknowledged', async () => {
    const s = await setup();
    try {
      const badTenant = { ...testEvent(randomUUID(), 'user.events.created', { email: 'x@example.test', password: 'never-stored-1' }), tenantid: 'not-a-uuid' };
      assert.equal(await s.audit.deps.ingest.handle(badTenant), 'dead_letter');
      assert.equal(await s.audit.deps.ingest.handle(badTenant), 'dead_letter');
      const garbage = { hello: 'world', id: randomUUID() };
      assert.equal(await s.audit.deps.ingest.handle(garbage), 'dead_letter');
      assert.equal(await s.audit.deps.ingest.handle('not even an object'), 'dead_letter');
      const letters = await listDeadLetters(t.db.admin);
      const forTenant = letters.filter((l) => l.event_id === badTenant.id);
      assert.equal(forTenant.length, 1, 'a redelivered poison message is kept once');
      assert.match(forTenant[0]!.reason, /unknown tenant/);
      assert.equal(forTenant[0]!.claimed_tenant, 'not-a-uuid', 'the claimed tenant is kept as received');
      assert.equal(forTenant[0]!.tenant_id, UNATTRIBUTED_TENANT, 'filed as unattributed: the claim is no tenant UUID');
      assert.doesNotMatch(forTenant[0]!.payload, /never-stored-1/);
      assert.match(letters.find((l) => l.event_id === garbage.id)!.reason, /not a CloudEvent/);
      assert.ok(letters.some((l) => l.payload.includes('not even an object')));
      // what a transport could not read at all (the JetStream transport hands it over)
      assert.equal(await s.audit.deps.ingest.parkInvalid({ subject: 'auth.events.x', data: '{"id": "1", "refreshToken": "cut-off-secr', reason: 'not JSON' }), 'dead_letter');
      const cut = (await listDeadLetters(t.db.admin)).find((l) => l.subject === 'auth.events.x')!;
      assert.equal(cut.payload, '{"id": "1", "refreshToken": "[redacted]');
      assert.match(cut.reason, /not JSON/);
    } finally {
      await s.close();
    }
  });

  test('no stored entry or dead letter holds a password, token or code', async () => {
    const s = await setup();
    try {
      const tenant = randomUUID();
      const secrets = ['Sup3r-Secret-Pw!', 'refresh-tok-8f3a9c', '493817', 'BACKUP-7G4K', 'TOTPSECRETBASE32AAAA', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRlc3Q'];
      const [pw, refresh, code, backup, totp, jwt] = secrets;
      const events = [
        testEvent(tenant, 'auth.events.password_changed', { userId: randomUUID(), password: pw, newPassword: pw, currentPassword: pw }),
        testEvent(tenant, 'auth.events.login_succeeded', { userId: randomUUID(), refreshToken: refresh, accessToken: jwt, session: { token: refresh } }),
        testEvent(tenant, 'auth.events.mfa_enabled', { userId: randomUUID(), code, backupCodes: [backup], secret: totp, otpauthUri: `otpauth://totp/x?secret=${totp}` }),
        testEvent(tenant, 'auth.events.login_failed', { email: 'v@example.test', headers: { Authorization: `Bearer ${jwt}`, Cookie: `sid=${refresh}` }, note: `token was ${jwt}` }),
        { ...testEvent(tenant, 'user.events.created', { password: pw, mfaCode: code }), tenantid: 'bad-tenant' },
      ];
      for (const e of events) await s.audit.deps.ingest.handle(e);
      assert.equal(await countEntries(t.db, tenant), 4);
      const stored = await sql<{ row: string }>`select row_to_json(e)::text as row from entries e where tenant_id = ${tenant}
        union all select row_to_json(d)::text from dead_letters d`.execute(t.db.admin);
      const text = stored.rows.map((r) => r.row).join('\n');
      for (const secret of [pw!, refresh!, code!, backup!, jwt!]) assert.equal(text.includes(secret), false, `found ${secret}`);
      // the otpauth URI key holds no secret-looking name; its value is kept, so producers must not send it
      assert.ok(text.includes('v@example.test'), 'ordinary data is kept');
    } finally {
      await s.close();
    }
  });

  test('200 events published while the audit consumer is not running: exactly 200 entries once it starts', async () => {
    const tt = await createTestTransport();
    const tenant = randomUUID();
    try {
      const events = Array.from({ length: 200 }, (_, i) => testEvent(tenant, 'user.events.created', { id: randomUUID(), email: `u${i}@example.test`, action: 'created' }));
      for (const e of events) await tt.transport.publish(e);
      const shared = await createTestShared(tt.transport);
      const audit = await startAudit(t.db, shared, { jwks: (await tokens).jwks });
      try {
        await eventually(async () => assert.equal(await countEntries(t.db, tenant), 200), 30_000);
        await sleep(300);
        assert.equal(await countEntries(t.db, tenant, { type: 'user.events.created' }), 200);
        const distinct = await t.db.admin.selectFrom('entries').select((eb) => eb.fn.count<string>('event_id').distinct().as('n')).where('tenant_id', '=', tenant).executeTakeFirstOrThrow();
        assert.equal(Number(distinct.n), 200);
        assert.deepEqual(await audit.deps.chain.verify(tenant), { ok: true, checked: 200 });
      } finally {
        await audit.close();
        await shared.close();
      }
    } finally {
      await tt.cleanup();
    }
  });

  test('the audit service stopped while events are produced catches up with nothing lost', async () => {
    const tt = await createTestTransport();
    const tenant = randomUUID();
    const publish = async (transport: EventTransport, n: number, from: number) => {
      for (let i = from; i < from + n; i++) await transport.publish(testEvent(tenant, 'profile.events.updated', { userId: randomUUID(), n: i }));
    };
    try {
      const shared = await createTestShared(tt.transport);
      const first = await startAudit(t.db, shared, { jwks: (await tokens).jwks });
      await publish(tt.transport, 20, 0);
      await eventually(async () => assert.equal(await countEntries(t.db, tenant), 20));
      await first.close();

      await publish(tt.transport, 30, 20);
      await sleep(200);
      assert.equal(await countEntries(t.db, tenant), 20, 'nothing is ingested while the service is down');

      // a new process: its own connection to the same stream and durable
      const transport2 = await tt.reopen();
      const shared2 = await createTestShared(transport2);
      const second = await startAudit(t.db, shared2, { jwks: (await tokens).jwks });
      try {
        await eventually(async () => assert.equal(await countEntries(t.db, tenant), 50), 30_000);
        const ns = (await t.db.admin.selectFrom('entries').select(sql<number>`(data->>'n')::int`.as('n')).where('tenant_id', '=', tenant).execute()).map((r) => r.n).sort((a, b) => a - b);
        assert.deepEqual(ns, Array.from({ length: 50 }, (_, i) => i));
        assert.deepEqual(await second.deps.chain.verify(tenant), { ok: true, checked: 50 });
      } finally {
        await second.close();
        await shared2.close();
        await shared.close();
      }
    } finally {
      await tt.cleanup();
    }
  });

  test('the same event published twice, and re-published past the dedupe window, makes one entry', async () => {
    const s = await setup();
    try {
      const tenant = randomUUID();
      const e = testEvent(tenant, 'auth.events.logout', { userId: randomUUID() });
      await s.tt.transport.publish(e);
      await s.tt.transport.publish(e);
      if (s.tt.nats) {
        // a relay retry after JetStream's duplicate window: same event, a new Nats-Msg-Id
        const js = jetstream(s.tt.nats.nc);
        const ack = await js.publish(`${s.tt.nats.prefix}.${e.type}`, JSON.stringify(e), { msgID: `retry-${e.id}` });
        assert.equal(ack.duplicate, false, 'the stream holds the event a second time');
      }
      // events are handled in order: once the marker is in, both copies have been seen
      const marker = testEvent(tenant, 'auth.events.logout', { marker: true });
      await s.tt.transport.publish(marker);
      await eventually(async () => assert.equal(await countEntries(t.db, tenant, { eventId: marker.id }), 1), 20_000);
      assert.equal(await countEntries(t.db, tenant, { eventId: e.id }), 1);
      assert.equal(await countEntries(t.db, tenant), 2);
    } finally {
      await s.close();
    }
  });

  test('a poison message on the stream is parked and does not block the events after it', async () => {
    const s = await setup();
    try {
      const tenant = randomUUID();
      const poison = { ...testEvent(randomUUID(), 'user.events.created', {}), tenantid: 'no-such-tenant' };
      await s.tt.transport.publish(poison);
      const unreadable = `not json { "password": "hunter2-${randomUUID()}"`;
      if (s.tt.nats) {
        // bytes that are not JSON at all, and JSON that is no CloudEvent
        await jetstream(s.tt.nats.nc).publish(`${s.tt.nats.prefix}.user.events.created`, unreadable);
        await jetstream(s.tt.nats.nc).publish(`${s.tt.nats.prefix}.user.events.created`, JSON.stringify({ id: `half-${poison.id}`, type: 'x' }));
      }
      const next = testEvent(tenant, 'user.events.created', { id: randomUUID() });
      await s.tt.transport.publish(next);
      await eventually(async () => assert.equal(await countEntries(t.db, tenant, { eventId: next.id }), 1), 20_000);
      // The consumer handles up to 32 messages at once (ingest.consumer.ts), so the event after
      // the poison may be in before the poison is parked: wait for the dead letters too.
      await eventually(async () => {
        const letters = await listDeadLetters(t.db.admin);
        assert.ok(letters.some((l) => l.event_id === poison.id && /unknown tenant/.test(l.reason)));
        if (s.tt.nats) {
          const notJson = letters.find((l) => l.payload.startsWith('not json {'));
          assert.ok(notJson, 'an unparseable message is parked');
          assert.match(notJson.reason, /not JSON \(subject user\.events\.created\)/);
          assert.doesNotMatch(notJson.payload, /hunter2/, 'a secret in unparseable text is masked');
          assert.ok(letters.some((l) => l.event_id === `half-${poison.id}` && /not a CloudEvent/.test(l.reason)));
        }
      }, 20_000);
    } finally {
      await s.close();
    }
  });
});
