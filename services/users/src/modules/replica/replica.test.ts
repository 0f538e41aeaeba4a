import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { makeEvent } from '@gatehouse/platform/events';
import { bearer, eventually, startTestUsers, userEvent, type TestUsers } from '../../testing';

let t: TestUsers;
before(async () => {
  t = await startTestUsers();
});
after(async () => {
  await t.close();
});

async function profile(u: { id: string; tenantId: string }) {
  const token = await t.mint({ sub: u.id, tid: u.tenantId });
  return t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
}

describe('identity replica', () => {
  test('user.events.created → the profile appears; updated → username follows, the edited display name stays; deleted → gone', async () => {
    const u = { id: randomUUID(), tenantId: randomUUID() };
    await t.transport.publish(userEvent('created', { ...u, username: 'first', displayName: 'From signup' }));
    const created = await eventually(async () => {
      const res = await profile(u);
      assert.equal(res.statusCode, 200);
      return res.json();
    });
    assert.equal(created.username, 'first');
    assert.equal(created.displayName, 'From signup');

    const token = await t.mint({ sub: u.id, tid: u.tenantId });
    await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { displayName: 'Edited here' } });
    await t.transport.publish(userEvent('updated', { ...u, username: 'second', displayName: 'From identity' }));
    await eventually(async () => assert.equal((await profile(u)).json().username, 'second'));
    assert.equal((await profile(u)).json().displayName, 'Edited here', 'the member’s own edit wins');

    await t.transport.publish(userEvent('deleted', u));
    await eventually(async () => assert.equal((await profile(u)).statusCode, 404));
  });

  test('idempotent on event id: a created event handled again (redelivered past the dedupe window) does not undo a later update', async () => {
    const u = { id: randomUUID(), tenantId: randomUUID() };
    const created = userEvent('created', { ...u, username: 'orig' });
    await t.transport.publish(created);
    await eventually(async () => assert.equal((await profile(u)).statusCode, 200));
    await t.transport.publish(userEvent('updated', { ...u, username: 'renamed' }));
    await eventually(async () => assert.equal((await profile(u)).json().username, 'renamed'));
    // straight to the handler: the transports would deduplicate a republished id themselves
    await t.deps.replica.handle(created);
    await Promise.all([t.deps.replica.handle(created), t.deps.replica.handle(created)]);
    assert.equal((await profile(u)).json().username, 'renamed');
    const inbox = await t.deps.db.admin.selectFrom('inbox').select('event_id').where('consumer', '=', 'users-replica').where('event_id', '=', created.id).execute();
    assert.equal(inbox.length, 1, 'applied once, recorded once');
  });

  test('out of order: an older updated event arriving after a newer one changes nothing', async () => {
    const u = { id: randomUUID(), tenantId: randomUUID() };
    const t0 = Date.now();
    await t.transport.publish(userEvent('created', { ...u, username: 'v1' }, { time: new Date(t0) }));
    await t.transport.publish(userEvent('updated', { ...u, username: 'v3' }, { time: new Date(t0 + 2000) }));
    await t.transport.publish(userEvent('updated', { ...u, username: 'v2' }, { time: new Date(t0 + 1000) }));
    const marker = { id: randomUUID(), tenantId: u.tenantId };
    await t.transport.publish(userEvent('created', marker));
    await eventually(async () => assert.equal((await profile(marker)).statusCode, 200)); // the stream is handled in order
    assert.equal((await profile(u)).json().username, 'v3');
  });

  test('a late created event after deleted does not bring the user back', async () => {
    const u = { id: randomUUID(), tenantId: randomUUID() };
    await t.transport.publish(userEvent('deleted', u));
    await t.transport.publish(userEvent('created', { ...u, username: 'zombie' }));
    const marker = { id: randomUUID(), tenantId: u.tenantId };
    await t.transport.publish(userEvent('created', marker));
    await eventually(async () => assert.equal((await profile(marker)).statusCode, 200));
    assert.equal((await profile(u)).statusCode, 404);
  });

  test('other user.events.* types (not created/updated/deleted) change nothing', async () => {
    const u = { id: randomUUID(), tenantId: randomUUID() };
    await t.transport.publish(makeEvent({ source: 'gatehouse/auth', type: 'user.events.disabled', tenantId: u.tenantId, data: { id: u.id, email: 'x@example.test', username: 'ghost' } }));
    const marker = { id: randomUUID(), tenantId: u.tenantId };
    await t.transport.publish(userEvent('created', marker));
    await eventually(async () => assert.equal((await profile(marker)).statusCode, 200));
    assert.equal((await profile(u)).statusCode, 404, 'no profile made from an unknown event type');
  });

  test('an event with unusable data is skipped without blocking the ones after it', async () => {
    const bad = userEvent('created', { id: randomUUID(), tenantId: randomUUID() });
    (bad.data as { id: string }).id = 'not-a-uuid';
    await t.transport.publish(bad);
    const u = { id: randomUUID(), tenantId: randomUUID() };
    await t.transport.publish(userEvent('created', u));
    await eventually(async () => assert.equal((await profile(u)).statusCode, 200));
  });

  test('an event whose data breaks the user.events contract is a dead letter: not applied, and the next one is', async () => {
    const bad = { id: randomUUID(), tenantId: randomUUID() };
    const e = userEvent('created', bad);
    (e.data as Record<string, unknown>).username = 42;
    await t.transport.publish(e);
    const marker = { id: randomUUID(), tenantId: bad.tenantId };
    await t.transport.publish(userEvent('created', marker));
    await eventually(async () => assert.equal((await profile(marker)).statusCode, 200));
    assert.equal((await profile(bad)).statusCode, 404, 'no profile from a payload outside the contract');
  });

  test('restart: users created while the service is stopped all exist after it starts again (durable catch-up)', async () => {
    const tenantId = randomUUID();
    const before = { id: randomUUID(), tenantId };
    await t.transport.publish(userEvent('created', before));
    await eventually(async () => assert.equal((await profile(before)).statusCode, 200));

    await t.stop();
    // published while no consumer runs (to JetStream when the run has NATS)
    const missed = Array.from({ length: 25 }, () => ({ id: randomUUID(), tenantId }));
    for (const u of missed) await t.transport.publish(userEvent('created', { ...u, username: `m${u.id.slice(0, 6)}` }));
    await t.transport.publish(userEvent('deleted', before));

    await t.restart();
    await eventually(async () => {
      for (const u of missed) assert.equal((await profile(u)).statusCode, 200, u.id);
    }, 30_000);
    await eventually(async () => assert.equal((await profile(before)).statusCode, 404));
  });
});

describe('row-level security', () => {
  test('every tenant-owned table has RLS enabled and forced; the app role sees and writes only its tenant', async () => {
    const a = await t.createUser();
    const b = await t.createUser();
    const { db } = t.deps;
    const rows = await sql<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>`
      select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'users' and c.relkind = 'r' and exists (
        select 1 from information_schema.columns col
        where col.table_schema = 'users' and col.table_name = c.relname and col.column_name = 'tenant_id')`.execute(db.admin);
    assert.deepEqual(rows.rows.map((r) => r.relname).sort(), ['attendance', 'deleted_users', 'event_roster', 'events', 'profiles']);
    for (const r of rows.rows) assert.ok(r.relrowsecurity && r.relforcerowsecurity, r.relname);

    const seen = await db.withTenant(a.tenantId, (trx) => trx.selectFrom('profiles').select('id').execute());
    assert.deepEqual(seen.map((r) => r.id), [a.id]);
    const cross = await db.withTenant(a.tenantId, (trx) => trx.selectFrom('profiles').select('id').where('id', '=', b.id).execute());
    assert.equal(cross.length, 0);
    await assert.rejects(
      db.withTenant(a.tenantId, (trx) =>
        trx
          .insertInto('events')
          .values({ tenant_id: b.tenantId, id: randomUUID(), title: 'x', starts_at: new Date(), ends_at: new Date(Date.now() + 1000), late_after_minutes: 0, created_by: a.id })
          .execute(),
      ),
      /row-level security/,
    );
  });
});
