import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createDatabase, rlsSql } from './db';
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

  test('withTenant refuses a non-uuid tenant', async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'rls3', logger: testLogger });
    await assert.rejects(db.withTenant("x' or 1=1", async () => 1), /tenant uuid/);
    await db.close();
  });
});
