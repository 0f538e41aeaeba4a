/**
 * preparedQuery's statements as named prepared statements on PostgreSQL (issue 13; prepared.ts,
 * db.pool.ts): prepared once per connection and then only executed, the same rows as the
 * unnamed path, off with `DATABASE_NAMED_STATEMENTS=false`, and a statement broken by a
 * migration fails its request once with a retryable 503 while the pool recovers.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Generated, type Kysely } from 'kysely';
import pg from 'pg';
import { APP_ROLE, createDatabase, rlsSql, type Db } from './db';
import { AppError } from './errors';
import { loadConfig, ConfigError } from './config';
import { nameStatement, preparedQuery } from './prepared';
import type { PlatformTables } from './schema';
import { createTestDatabase, eventually, testLogger } from './testing';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

interface Notes extends PlatformTables {
  notes: { id: Generated<number>; tenant_id: string; body: string; tags: string[] };
}

const insert = preparedQuery((db: Kysely<Notes>, p: { tenant: string; body: string; tags: string[] }) =>
  db.insertInto('notes').values({ tenant_id: p.tenant, body: p.body, tags: p.tags }).returning(['id', 'body', 'tags']),
);
const find = preparedQuery((db: Kysely<Notes>, p: { body: string }) =>
  db.selectFrom('notes').select(['id', 'tenant_id', 'body', 'tags']).where('body', 'like', p.body).orderBy('id'),
);
const starSelect = preparedQuery((db: Kysely<Notes>, p: { body: string }) => db.selectFrom('notes').selectAll().where('body', '=', p.body));
const starAliased = preparedQuery((db: Kysely<Notes>, p: { body: string }) => db.selectFrom('notes as n').selectAll('n').where('n.body', '=', p.body));
const starReturning = preparedQuery((db: Kysely<Notes>, p: { tenant: string; body: string }) =>
  db.insertInto('notes').values({ tenant_id: p.tenant, body: p.body, tags: [] }).returningAll(),
);
const unnamedByChoice = preparedQuery((db: Kysely<Notes>, p: { body: string }) => db.selectFrom('notes').select('id').where('body', '=', p.body), { named: false });

interface Prepared {
  name: string;
  statement: string;
  runs: number;
}

/** The named statements of the connection `db` runs on (the owner pool or a transaction), with how often each ran. */
async function preparedHere(db: Db<Notes> | Kysely<Notes>): Promise<Prepared[]> {
  const { rows } = await sql<Prepared>`select name, statement, (generic_plans + custom_plans)::int as runs from pg_prepared_statements order by name`.execute(db);
  return rows;
}

describe('named prepared statements', async () => {
  const testDb = await createTestDatabase();
  after(() => testDb.drop());
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-named-'));
  await writeFile(
    path.join(dir, '0001_notes.sql'),
    `create table notes (id serial primary key, tenant_id uuid not null, body text not null, tags text[] not null default '{}');
     ${rlsSql('notes')}
     grant select, insert, update, delete on notes to ${APP_ROLE};
     grant usage on sequence notes_id_seq to ${APP_ROLE};`,
  );
  const pgOnly = { skip: !testDb.url && 'needs PostgreSQL (TEST_DATABASE_URL): PGlite has no statement names' };

  test('a statement that lists its result columns gets a stable name; one with * in its select list or RETURNING does not', () => {
    assert.match(find.statementName() ?? '', /^gh_[0-9a-f]{16}$/);
    assert.match(insert.statementName() ?? '', /^gh_[0-9a-f]{16}$/);
    assert.notEqual(find.statementName(), insert.statementName());
    assert.equal(nameStatement(find.sql()), find.statementName(), 'the same text, the same name');
    assert.match(starSelect.sql(), /select \* from/);
    assert.equal(starSelect.statementName(), undefined);
    assert.match(starAliased.sql(), /select "n"\.\* from/);
    assert.equal(starAliased.statementName(), undefined);
    assert.match(starReturning.sql(), /returning \*/);
    assert.equal(starReturning.statementName(), undefined);
    assert.equal(unnamedByChoice.statementName(), undefined, 'named: false');
    // a star that is not a result column list
    assert.ok(nameStatement('select count(*) as n, 2 * "id" as twice from "notes" where "body" = $1'));
    assert.equal(nameStatement('select "id", * from "notes"'), undefined);
  });

  test('prepared once per connection: the server keeps one statement per name and runs it again', pgOnly, async () => {
    const db = await createDatabase<Notes>({ url: testDb.url, schema: 'named_once', logger: testLogger, poolSize: 1 });
    try {
      await db.migrate(dir);
      await db.withTenant(A, async (trx) => {
        for (const body of ['one', 'one!', 'two']) await insert.run(trx, { tenant: A, body, tags: [body] });
        // the tenant pool's one connection: one statement for the INSERT, run 3 times
        assert.deepEqual(
          (await preparedHere(trx)).filter((s) => s.name === insert.statementName()),
          [{ name: insert.statementName(), statement: insert.sql(), runs: 3 }],
        );
      });
      for (let i = 0; i < 5; i++) assert.equal((await find.run(db.admin, { body: 'one%' })).length, 2);
      // the owner pool's one connection: the SELECT prepared once and run 5 times; the
      // refused and the dynamic statements were never prepared
      assert.deepEqual(await preparedHere(db.admin), [{ name: find.statementName(), statement: find.sql(), runs: 5 }]);
      await starSelect.run(db.admin, { body: 'one' });
      await db.admin.selectFrom('notes').select('id').where('body', '=', 'two').execute();
      assert.deepEqual(await preparedHere(db.admin), [{ name: find.statementName(), statement: find.sql(), runs: 5 }]);
      // PostgreSQL's plan cache: after 5 custom plans it may settle on a generic one, which
      // is then reused without planning
      for (let i = 0; i < 5; i++) await find.run(db.admin, { body: 'two' });
      const { rows } = await sql<{ generic: number }>`select generic_plans::int as generic from pg_prepared_statements where name = ${find.statementName()!}`.execute(db.admin);
      assert.ok(rows[0]!.generic > 0, 'a generic plan was used');
    } finally {
      await db.close();
    }
  });

  test('the same rows as unnamed statements, under RLS and on the owner pool; DATABASE_NAMED_STATEMENTS=false prepares nothing', pgOnly, async () => {
    const named = await createDatabase<Notes>({ url: testDb.url, schema: 'named_same', logger: testLogger, poolSize: 1 });
    const unnamed = await createDatabase<Notes>({ url: testDb.url, schema: 'named_same', logger: testLogger, poolSize: 1, namedStatements: false });
    try {
      await named.migrate(dir);
      await named.withTenant(A, async (trx) => {
        await insert.run(trx, { tenant: A, body: 'a1', tags: ['x', 'y'] });
        await insert.run(trx, { tenant: A, body: 'a2', tags: [] });
      });
      await unnamed.withTenant(B, (trx) => insert.run(trx, { tenant: B, body: 'b1', tags: ['b'] }));
      for (const tenant of [A, B]) {
        const viaNamed = await named.withTenant(tenant, (trx) => find.run(trx, { body: '%' }));
        const viaUnnamed = await unnamed.withTenant(tenant, (trx) => find.run(trx, { body: '%' }));
        assert.ok(viaNamed.length > 0);
        assert.ok(viaNamed.every((r) => r.tenant_id === tenant), 'RLS applies to the named statement');
        assert.deepEqual(viaNamed, viaUnnamed);
      }
      assert.deepEqual(await find.run(named.admin, { body: '%' }), await find.run(unnamed.admin, { body: '%' }));
      assert.equal((await find.run(named.admin, { body: '%' })).length, 3);
      // the switch off: the same statements ran, none was prepared
      assert.deepEqual(await preparedHere(unnamed.admin), []);
      assert.deepEqual(await unnamed.withTenant(A, (trx) => preparedHere(trx)), []);
      assert.equal((await preparedHere(named.admin)).length, 1);
    } finally {
      await named.close();
      await unnamed.close();
    }
  });

  test('DATABASE_NAMED_STATEMENTS: on by default, false turns it off, anything else is refused', () => {
    assert.equal(loadConfig({}).database.namedStatements, true);
    assert.equal(loadConfig({ DATABASE_NAMED_STATEMENTS: 'false' }).database.namedStatements, false);
    assert.throws(() => loadConfig({ DATABASE_NAMED_STATEMENTS: 'off' }), ConfigError);
  });

  test('a migration that changes a returned column\'s type: the work in flight fails once with a retryable 503, then the pool recovers', pgOnly, async () => {
    const db = await createDatabase<Notes>({ url: testDb.url, schema: 'named_alter', logger: testLogger, poolSize: 2 });
    const owner = new pg.Client({ connectionString: testDb.url });
    await owner.connect();
    try {
      await db.migrate(dir);
      await db.withTenant(A, (trx) => insert.run(trx, { tenant: A, body: 'kept', tags: [] }));
      // owner pool: both connections prepare `find`
      const ownerPids = await Promise.all(
        [0, 1].map(() =>
          db.admin.connection().execute(async (conn) => {
            await find.run(conn, { body: 'kept' });
            const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn);
            await sleep(150);
            return rows[0]!.pid;
          }),
        ),
      );
      assert.equal(new Set(ownerPids).size, 2, 'two connections prepared the statement');

      // a migration changes the type of a column the statement returns
      await owner.query('alter table named_alter.notes alter column body type varchar(200)');

      const isRetryable = (err: unknown) => {
        assert.ok(err instanceof AppError, `an AppError, not ${String(err)}`);
        assert.equal(err.status, 503);
        assert.equal(err.code, 'service_unavailable');
        assert.equal(err.headers?.['retry-after'], '1');
        assert.equal((err.cause as { code?: string }).code, '0A000');
        assert.equal((err.cause as { routine?: string }).routine, 'RevalidateCachedQuery');
        return true;
      };
      await assert.rejects(find.run(db.admin, { body: 'kept' }), isRetryable);
      // the connection it failed on was closed when released (the other one is idle, still open)
      await eventually(async () => {
        const { rows } = await owner.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where pid = any($1)', [ownerPids]);
        assert.equal(rows[0]!.n, 1);
      }, 3000);
      // the failed connection is closed, and so is the other one made before the failure: every
      // call after it succeeds, two at a time (without that, the other connection failed too)
      for (let i = 0; i < 3; i++) {
        const results = await Promise.all([find.run(db.admin, { body: 'kept' }), find.run(db.admin, { body: 'kept' })]);
        for (const rows of results) assert.deepEqual(rows.map((r) => r.body), ['kept']);
      }
      const { rows: now } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.admin);
      assert.ok(!ownerPids.includes(now[0]!.pid), 'served by a new connection');

      // the tenant pool, inside a transaction: both connections prepare `find`, the type changes back
      await Promise.all(
        [0, 1].map(() =>
          db.withTenant(A, async (trx) => {
            await find.run(trx, { body: 'kept' });
            await sleep(150);
          }),
        ),
      );
      await owner.query('alter table named_alter.notes alter column body type text');
      await assert.rejects(
        db.withTenant(A, async (trx) => {
          await insert.run(trx, { tenant: A, body: 'lost', tags: [] });
          return find.run(trx, { body: 'kept' });
        }),
        isRetryable,
      );
      for (let i = 0; i < 3; i++) {
        const results = await Promise.all([0, 1].map(() => db.withTenant(A, (trx) => find.run(trx, { body: '%' }))));
        // the failed unit of work rolled back: its insert is not there
        for (const rows of results) assert.deepEqual(rows.map((r) => r.body), ['kept']);
      }
    } finally {
      await owner.end();
      await db.close();
    }
  });
});
