import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { APP_ROLE, createDatabase, rlsSql, type Tx } from './db';
import { makeEvent } from './events/envelope';
import type { RevocationList } from './revocation';
import { createTestDatabase, testLogger } from './testing';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

async function migrationsDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-mig-'));
  await writeFile(
    path.join(dir, '0001_notes.sql'),
    `create table notes (id serial primary key, tenant_id uuid not null, body text not null);
     ${rlsSql('notes')}
     grant select, insert, update, delete on notes to gatehouse_app;
     grant usage on sequence notes_id_seq to gatehouse_app;`,
  );
  return dir;
}

describe('database', async () => {
  const testDb = await createTestDatabase();
  after(() => testDb.drop());
  const dir = await migrationsDir();

  test('two instances migrating one empty database at once both come up (advisory lock)', { skip: !testDb.url && 'PGlite is single-process' }, async () => {
    const [a, b] = await Promise.all([
      createDatabase({ url: testDb.url, schema: 'racey', logger: testLogger }),
      createDatabase({ url: testDb.url, schema: 'racey', logger: testLogger }),
    ]);
    const [ra, rb] = await Promise.all([a.migrate(dir), b.migrate(dir)]);
    // exactly one of them applied each migration, the other found it done
    assert.deepEqual([...ra, ...rb].sort(), ['0000_platform.sql', '0001_notes.sql']);
    const rows = await sql<{ name: string }>`select name from racey.schema_migrations order by name`.execute(a.admin);
    assert.deepEqual(rows.rows.map((r) => r.name), ['0000_platform.sql', '0001_notes.sql']);
    await Promise.all([a.close(), b.close()]);
  });

  test('row-level security: an unfiltered query in the request path sees only the current tenant', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'rls', logger: testLogger });
    await db.migrate(dir);
    await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a1'), (${A}, 'a2')`.execute(trx));
    await db.withTenant(B, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'b1')`.execute(trx));
    // deliberately no WHERE clause: only RLS stands between tenants here
    const seenByA = await db.withTenant(A, (trx) => sql<{ body: string }>`select body from notes order by body`.execute(trx));
    assert.deepEqual(seenByA.rows.map((r) => r.body), ['a1', 'a2']);
    const seenByB = await db.withTenant(B, (trx) => sql<{ body: string }>`select body from notes`.execute(trx));
    assert.deepEqual(seenByB.rows.map((r) => r.body), ['b1']);
    // updates and deletes cannot cross either
    const upd = await db.withTenant(A, (trx) => sql`update notes set body = 'x' returning id`.execute(trx));
    assert.equal(upd.rows.length, 2);
    const del = await db.withTenant(B, (trx) => sql`delete from notes where body = 'x' returning id`.execute(trx));
    assert.equal(del.rows.length, 0);
    // writing a row for another tenant is refused by the policy's WITH CHECK
    await assert.rejects(db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'sneaky')`.execute(trx)));
    // the role is unprivileged inside, and back to the owner outside
    const role = await db.withTenant(A, (trx) => sql<{ u: string }>`select current_user as u`.execute(trx));
    assert.equal(role.rows[0]?.u, 'gatehouse_app');
    const all = await sql<{ n: number }>`select count(*)::int as n from notes`.execute(db.admin);
    assert.equal(all.rows[0]?.n, 3);
    await db.close();
  });

  test('without a tenant set, the application role sees nothing', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'rls2', logger: testLogger });
    await db.migrate(dir);
    await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a1')`.execute(trx));
    const rows = await db.admin.transaction().execute(async (trx) => {
      await sql`select set_config('role', 'gatehouse_app', true)`.execute(trx);
      return sql`select * from notes`.execute(trx);
    });
    assert.equal(rows.rows.length, 0);
    await db.close();
  });

  test("withTenant's sessions start as the application role: RESET ROLE never reaches the owner, and neither a role change nor a tenant outlives its transaction", { skip: !testDb.url && "PGlite has one connection, the owner's" }, async () => {
    // one connection per pool: every withTenant below runs on the same session
    const db = await createDatabase({ url: testDb.url, schema: 'rls4', logger: testLogger, poolSize: 1 });
    await db.migrate(dir);
    const who = (trx: Tx) => sql<{ u: string; t: string; pid: number }>`select current_user as u, current_setting('app.tenant_id', true) as t, pg_backend_pid() as pid`.execute(trx).then((r) => r.rows[0]!);
    const owner = (await sql<{ u: string }>`select current_user as u`.execute(db.admin)).rows[0]!.u;
    assert.notEqual(owner, APP_ROLE);
    const first = await db.withTenant(A, (trx) => who(trx));
    assert.deepEqual([first.u, first.t], [APP_ROLE, A]);
    // RESET ROLE returns to the session's own role, the application role, not the owner
    const reset = await db.withTenant(A, async (trx) => {
      await sql`reset role`.execute(trx);
      return who(trx);
    });
    assert.deepEqual([reset.u, reset.t, reset.pid], [APP_ROLE, A, first.pid]);
    // a session-level SET ROLE to the owner (what injected SQL could do) ends with its transaction for tenant work
    await db.withTenant(A, (trx) => sql`set role ${sql.id(owner)}`.execute(trx));
    const next = await db.withTenant(B, (trx) => who(trx));
    assert.deepEqual([next.u, next.t, next.pid], [APP_ROLE, B, first.pid]);
    // nor do the other session-level ways back to the owner: SET ROLE NONE (the session user),
    // set_config('role', ..., false), SET SESSION AUTHORIZATION, a session-level tenant; each
    // one escapes its own transaction (the login user is the owner, a member of every role it
    // could name), and the next transaction of the connection runs as the application role with
    // its own tenant, and sees only that tenant's rows
    await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a-only')`.execute(trx));
    const escapes = [
      sql`set role none`,
      sql`select set_config('role', ${owner}, false)`,
      sql`set session authorization ${sql.id(owner)}`,
      sql`select set_config('app.tenant_id', ${A}, false)`,
    ];
    for (const escape of escapes) {
      const inside = await db.withTenant(A, async (trx) => {
        await escape.execute(trx);
        return who(trx);
      });
      assert.equal(inside.pid, first.pid);
      const later = await db.withTenant(B, async (trx) => ({ ...(await who(trx)), bodies: (await sql<{ body: string }>`select body from notes`.execute(trx)).rows }));
      assert.deepEqual([later.u, later.t, later.pid, later.bodies], [APP_ROLE, B, first.pid, []]);
    }
    // a rolled-back transaction leaves no tenant behind either
    await assert.rejects(db.withTenant(A, () => Promise.reject(new Error('boom'))), /boom/);
    const after = await db.withTenant(B, (trx) => who(trx));
    assert.deepEqual([after.u, after.t, after.pid], [APP_ROLE, B, first.pid]);
    // owner work runs on the owner's own connections, as the owner
    assert.equal((await sql<{ u: string }>`select current_user as u`.execute(db.admin)).rows[0]!.u, owner);
    await db.close();
  });

  test('a login that may not take the application role never runs tenant work: its tenant sessions fail to connect', { skip: !testDb.url && 'PGlite has no logins' }, async (t) => {
    const db = await createDatabase({ url: testDb.url, schema: 'rls5', logger: testLogger });
    await db.migrate(dir);
    const can = await sql<{ ok: boolean }>`select rolsuper or rolcreaterole as ok from pg_roles where rolname = current_user`.execute(db.admin);
    if (!can.rows[0]?.ok) {
      await db.close();
      t.skip('the test login cannot create roles');
      return;
    }
    // a login of its own, not a member of the application role (cluster-wide: dropped below)
    const login = `gh_nomember_${Date.now().toString(36)}`;
    await sql.raw(`create role ${login} login nosuperuser nobypassrls; grant usage on schema rls5 to ${login}`).execute(db.admin);
    const url = new URL(testDb.url!);
    url.username = login;
    url.password = '';
    const other = await createDatabase({ url: url.toString(), schema: 'rls5', logger: testLogger, poolSize: 1, connectTimeoutMs: 2000 });
    try {
      // its owner connections work; the tenant pool's sessions do not start
      assert.equal((await sql<{ u: string }>`select current_user as u`.execute(other.admin)).rows[0]?.u, login);
      let ran = false;
      await assert.rejects(
        other.withTenant(A, async () => {
          ran = true;
        }),
        /permission denied to set role/,
      );
      assert.equal(ran, false);
    } finally {
      await other.close();
      await sql.raw(`drop owned by ${login}; drop role ${login}`).execute(db.admin);
      await db.close();
    }
  });

  test('withTenant refuses a non-uuid tenant', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'rls3', logger: testLogger });
    await assert.rejects(db.withTenant("x' or 1=1", async () => 1), /tenant uuid/);
    await db.close();
  });

  test('withTenantLed: the lead rides the open, fn gets its last statement\'s rows under RLS; a failing lead rolls back; parameters are refused', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'led', logger: testLogger });
    await db.migrate(dir);
    await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a1'), (${A}, 'a2')`.execute(trx));
    await db.withTenant(B, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'b1')`.execute(trx));
    const lead = sql.raw<{ body: string; who: string }>(`select pg_advisory_xact_lock(42);\nselect body, current_user as who from notes order by body`);
    const seen = await db.withTenantLed(A, lead, async (trx, _emit, rows) => {
      // still inside the transaction the lead ran in: the lock is held, the tenant set
      const held = await sql<{ n: number }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 42 and pid = pg_backend_pid()`.execute(trx);
      if (db.kind === 'postgres') assert.equal(held.rows[0]?.n, 1);
      await sql`insert into notes (tenant_id, body) values (${A}, 'a3')`.execute(trx);
      return rows;
    });
    assert.deepEqual(seen.map((r) => r.body), ['a1', 'a2']);
    assert.ok(seen.every((r) => r.who === 'gatehouse_app'));
    assert.equal((await db.withTenant(A, (trx) => sql`select body from notes`.execute(trx))).rows.length, 3);

    // a lead that fails rolls the transaction back, fn never runs, and the connection is usable
    let ran = false;
    await assert.rejects(
      db.withTenantLed(A, sql.raw(`select 1/0`), async () => {
        ran = true;
      }),
      /division by zero/,
    );
    assert.equal(ran, false);
    await assert.rejects(db.withTenantLed(A, sql`select ${1}`, async () => 1), /no parameters/);
    const after = await Promise.all(Array.from({ length: 12 }, () => db.withTenant(B, (trx) => sql<{ body: string }>`select body from notes`.execute(trx))));
    assert.ok(after.every((r) => r.rows.length === 1));
    await db.close();
  });

  test('withTenantRead: one statement under RLS; a second fails the read with nothing of it committed; a failing read leaves the connection usable (either backend)', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'one_read', logger: testLogger });
    await db.migrate(dir);
    await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a1')`.execute(trx));
    await db.withTenant(B, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'b1')`.execute(trx));
    const seen = await db.withTenantRead(A, (trx) => sql<{ body: string; who: string }>`select body, current_user as who from notes`.execute(trx));
    assert.deepEqual(seen.rows, [{ body: 'a1', who: APP_ROLE }]);
    // PostgreSQL refuses the second statement unsent (its transaction committed with the first);
    // PGlite runs it, then fails the read, and the transaction rolls back
    await assert.rejects(
      db.withTenantRead(A, async (trx) => {
        await sql`select 1`.execute(trx);
        await sql`insert into notes (tenant_id, body) values (${A}, 'second')`.execute(trx);
      }),
      /one-statement read \(withTenantRead\) ran a second statement/,
    );
    await assert.rejects(db.withTenantRead(A, (trx) => sql`select 1/0`.execute(trx)), /division by zero/);
    const bodies = await db.withTenantRead(A, (trx) => sql<{ body: string }>`select body from notes order by body`.execute(trx));
    assert.deepEqual(bodies.rows.map((r) => r.body), ['a1'], 'the second statement left nothing');
    await db.close();
  });

  test('a unit of work: emitted events commit with it, then the relay is nudged and revocations published; a rollback does neither', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'uow', logger: testLogger });
    await db.migrate(dir);
    const calls: string[] = [];
    const revocations: RevocationList = {
      revokeSession: async (sid) => void calls.push(`session ${sid}`),
      revokeUser: async (id) => void calls.push(`user ${id}`),
      revokeTenant: async (id) => {
        calls.push(`tenant ${id}`);
        throw new Error('the shared store is down');
      },
      isRevoked: () => false,
      start: async () => {},
      stop: async () => {},
    };
    db.onCommit({ relay: { nudge: () => calls.push('nudge') }, revocations, revocationTtlMs: 60_000 });
    const event = (n: number) => makeEvent({ source: 'test', type: 'auth.events.noted', tenantId: A, data: { n } });
    const outbox = () => sql<{ n: number }>`select count(*)::int as n from uow.outbox`.execute(db.admin).then((r) => r.rows[0]?.n);

    // committed: the rows and the event together; after the commit, nudge and revocations
    // (a failing publisher is logged, not thrown: the change is committed)
    await db.withTenant(A, async (trx, emit) => {
      await sql`insert into notes (tenant_id, body) values (${A}, 'kept')`.execute(trx);
      await emit(event(1), event(2));
      emit.revokeSessions(['s1', 's2']);
      emit.revokeUser('u1');
      emit.revokeTenant(A);
      assert.deepEqual(calls, [], 'nothing happens before the commit');
    });
    assert.equal(await outbox(), 2);
    assert.deepEqual(calls, ['nudge', 'session s1', 'session s2', 'user u1', `tenant ${A}`]);

    // rolled back: no rows, no events, no nudge, no revocation
    calls.length = 0;
    await assert.rejects(
      db.withTenant(A, async (trx, emit) => {
        await sql`insert into notes (tenant_id, body) values (${A}, 'dropped')`.execute(trx);
        await emit(event(3));
        emit.revokeSessions(['s3']);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.equal(await outbox(), 2);
    assert.deepEqual(calls, []);

    // the owner-connection unit of work behaves the same; no events, no nudge
    await db.transaction(async (_trx, emit) => emit.revokeSessions(['s4']));
    assert.deepEqual(calls, ['session s4']);
    await db.close();
  });

  test('revoking in a unit of work without a revocation list fails it, so nothing commits', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'uow2', logger: testLogger });
    await db.migrate(dir);
    await assert.rejects(
      db.withTenant(A, async (trx, emit) => {
        await sql`insert into notes (tenant_id, body) values (${A}, 'x')`.execute(trx);
        emit.revokeSessions(['s1']);
      }),
      /no revocation list/,
    );
    const rows = await sql<{ n: number }>`select count(*)::int as n from uow2.notes`.execute(db.admin);
    assert.equal(rows.rows[0]?.n, 0);
    await db.close();
  });
});
