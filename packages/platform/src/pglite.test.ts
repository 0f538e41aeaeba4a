/**
 * The embedded mode's one PGlite instance shared by the services of a process (pglite.ts):
 * each service sees only its own schema, units of work of different services never
 * interleave on the one connection, and a data directory of the earlier layout (one PGlite
 * per service) is still opened where it is. Always embedded: it is what these tests are about.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { createDatabase, rlsSql, type Database } from './db';
import { embeddedDatabaseDir, EMBEDDED_DB_DIR } from './datadir';
import { loadConfig } from './config';
import { openServiceDatabase } from './service';
import { testLogger } from './testing';
import { DataDirInUseError, openPGlite } from './pglite';
import { currentHolder } from './datadir-lock';

const T1 = '00000000-0000-4000-8000-0000000000a1';
const T2 = '00000000-0000-4000-8000-0000000000a2';

async function migrations(name: string, extra = '') {
  const dir = await mkdtemp(path.join(tmpdir(), `gh-pglite-mig-${name}-`));
  await writeFile(
    path.join(dir, '0001_notes.sql'),
    `create table notes (id serial primary key, tenant_id uuid not null, body text not null);
     ${rlsSql('notes')}
     grant select, insert, update, delete on notes to gatehouse_app;
     grant usage on sequence notes_id_seq to gatehouse_app;
     ${extra}`,
  );
  return dir;
}

const bodies = async (db: Database, tenant: string) =>
  (await db.withTenant(tenant, (trx) => sql<{ body: string }>`select body from notes order by id`.execute(trx))).rows.map((r) => r.body);

describe('one embedded database shared by the services of a process', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-pglite-'));
  const shared = path.join(dataDir, EMBEDDED_DB_DIR);
  after(() => rm(dataDir, { recursive: true, force: true }));
  // two services, one directory: the same notes table name in each, and a table only alpha has
  const [alpha, beta] = await Promise.all([
    createDatabase({ dataDir: shared, schema: 'alpha', logger: testLogger }),
    createDatabase({ dataDir: shared, schema: 'beta', logger: testLogger }),
  ]);
  after(async () => {
    await alpha.close();
    await beta.close();
  });
  await Promise.all([
    alpha.migrate(await migrations('alpha', 'create table alpha_only (secret text); insert into alpha_only values (\'mine\');')),
    beta.migrate(await migrations('beta')),
  ]);

  test('each service reads and writes only its own schema', async () => {
    await alpha.withTenant(T1, (trx) => sql`insert into notes (tenant_id, body) values (${T1}, 'alpha note')`.execute(trx));
    await beta.withTenant(T1, (trx) => sql`insert into notes (tenant_id, body) values (${T1}, 'beta note')`.execute(trx));
    assert.deepEqual(await bodies(alpha, T1), ['alpha note']);
    assert.deepEqual(await bodies(beta, T1), ['beta note']);
    // the other service's table does not exist for beta, neither to read nor to write, in any path
    await assert.rejects(sql`select secret from alpha_only`.execute(beta.admin), /relation "alpha_only" does not exist/);
    await assert.rejects(beta.transaction((trx) => sql`insert into alpha_only values ('theirs')`.execute(trx)), /relation "alpha_only" does not exist/);
    await assert.rejects(
      beta.withTenant(T1, (trx) => sql`select secret from alpha_only`.execute(trx)),
      /relation "alpha_only" does not exist/,
    );
    // and alpha's own table is untouched and still there for alpha
    const own = await sql<{ secret: string }>`select secret from alpha_only`.execute(alpha.admin);
    assert.deepEqual(own.rows, [{ secret: 'mine' }]);
    // both schemas are in the one instance (what "one database" means), each migrated on its own
    const schemas = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname in ('alpha', 'beta') order by 1`.execute(alpha.admin);
    assert.deepEqual(schemas.rows.map((r) => r.nspname), ['alpha', 'beta']);
  });

  test('row-level security still holds per service on the shared instance', async () => {
    await beta.withTenant(T2, (trx) => sql`insert into notes (tenant_id, body) values (${T2}, 'beta t2')`.execute(trx));
    assert.deepEqual(await bodies(beta, T2), ['beta t2']);
    assert.ok(!(await bodies(beta, T1)).includes('beta t2'));
    await assert.rejects(beta.withTenant(T1, (trx) => sql`insert into notes (tenant_id, body) values (${T2}, 'forged')`.execute(trx)), /row-level security/);
  });

  test('units of work of two services never interleave on the one connection', async () => {
    const order: string[] = [];
    // alpha's transaction pauses between statements (awaiting other I/O) and then fails: if
    // beta's statements ran inside it, the rollback would take beta's rows with it, and
    // they would see alpha's tenant, role and search_path.
    const alphaWork = alpha
      .withTenant(T1, async (trx) => {
        order.push('alpha begins');
        await sql`insert into notes (tenant_id, body) values (${T1}, 'rolled back')`.execute(trx);
        await sleep(50);
        order.push('alpha fails');
        throw new Error('alpha gives up');
      })
      .catch((err: Error) => err.message);
    await sleep(5);
    const betaWork = Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const tenant = i % 2 ? T1 : T2;
        return beta.withTenant(tenant, async (trx) => {
          order.push(`beta ${i}`);
          await sql`insert into notes (tenant_id, body) values (${tenant}, ${`beta ${i}`})`.execute(trx);
          await sleep(1);
          const r = await sql<{ schema: string; tenant: string; role: string }>`select current_schema() as schema, current_setting('app.tenant_id') as tenant, current_user as role`.execute(trx);
          return r.rows[0];
        });
      }),
    );
    const standalone = sql<{ schema: string }>`select current_schema() as schema`.execute(beta.admin);
    assert.equal(await alphaWork, 'alpha gives up');
    const seen = await betaWork;
    assert.equal((await standalone).rows[0]?.schema, 'beta');
    // alpha's unit of work ran whole before any of beta's started
    assert.deepEqual(order.slice(0, 2), ['alpha begins', 'alpha fails']);
    seen.forEach((s, i) => assert.deepEqual(s, { schema: 'beta', tenant: i % 2 ? T1 : T2, role: 'gatehouse_app' }));
    // beta's rows survived alpha's rollback; alpha's row did not
    assert.ok((await bodies(beta, T1)).includes('beta 1'));
    assert.ok((await bodies(beta, T2)).includes('beta 0'));
    assert.ok(!(await bodies(alpha, T1)).includes('rolled back'));
  });

  test('closing one service leaves the instance open for the others; it can open again', async () => {
    const gamma = await createDatabase({ dataDir: shared, schema: 'gamma', logger: testLogger });
    await gamma.migrate(await migrations('gamma'));
    await gamma.close();
    await gamma.close(); // twice is harmless: one reference given back
    assert.deepEqual(await bodies(alpha, T1), ['alpha note']);
    const again = await createDatabase({ dataDir: shared, schema: 'gamma', logger: testLogger });
    assert.deepEqual(await again.migrate(await migrations('gamma')), []);
    await again.close();
  });
});

describe('a data directory of the earlier layout (one PGlite per service)', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-pglite-legacy-'));
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('a service whose own directory holds a database keeps using it; the others share the new one', async () => {
    const dir = await migrations('legacy');
    // what a deployment made before the shared instance left: <DATA_DIR>/auth is a PGlite of its own
    const old = await createDatabase({ dataDir: path.join(dataDir, 'auth'), schema: 'auth', logger: testLogger });
    await old.migrate(dir);
    await old.withTenant(T1, (trx) => sql`insert into notes (tenant_id, body) values (${T1}, 'kept')`.execute(trx));
    await old.close();

    assert.deepEqual(embeddedDatabaseDir(dataDir, 'auth'), { dir: path.join(dataDir, 'auth'), legacy: true });
    assert.deepEqual(embeddedDatabaseDir(dataDir, 'users'), { dir: path.join(dataDir, EMBEDDED_DB_DIR), legacy: false });

    const config = loadConfig({ DATA_DIR: dataDir, GATEHOUSE_SECRET: 'x'.repeat(40) });
    const auth = await openServiceDatabase(config, { name: 'auth', schema: 'auth', migrationsDir: dir }, { logger: testLogger });
    const users = await openServiceDatabase(config, { name: 'users', schema: 'users', migrationsDir: dir }, { logger: testLogger });
    try {
      assert.deepEqual(auth.applied, [], 'the old database was found, not made anew');
      assert.deepEqual(await bodies(auth.db, T1), ['kept']);
      assert.deepEqual(users.applied, ['0000_platform.sql', '0001_notes.sql']);
      assert.deepEqual(await bodies(users.db, T1), []);
    } finally {
      await auth.db.close();
      await users.db.close();
    }
  });
});

describe('one process at a time on an embedded data directory', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-pglite-lock-'));
  after(() => rm(dataDir, { recursive: true, force: true }));
  const dir = path.join(dataDir, EMBEDDED_DB_DIR);

  test('a directory another live process holds is refused with what to do; a dead holder is taken over', async () => {
    // another running process of this host and pid namespace holds it (our parent: alive, and not us)
    const lockOf = (pid: number) => JSON.stringify({ ...currentHolder(), pid, pidStart: undefined, instance: `holder-${pid}` });
    await writeFile(`${dir}.lock`, lockOf(process.ppid));
    await assert.rejects(openPGlite(dir, testLogger), (err: Error) => err instanceof DataDirInUseError && err.message.includes(`in use by process ${process.ppid} on `) && err.message.includes('DATABASE_URL'));
    assert.equal(existsSync(dir), false, 'nothing was created in a directory someone else holds');
    // the holder crashed: its pid no longer runs (datadir-lock.test.ts: the other cases)
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    await writeFile(`${dir}.lock`, lockOf(gone));
    const shared = await openPGlite(dir, testLogger);
    try {
      assert.equal(JSON.parse(await readFile(`${dir}.lock`, 'utf8')).pid, process.pid);
      assert.ok(existsSync(path.join(dir, 'PG_VERSION')), 'a new directory gets a database');
    } finally {
      await shared.release();
    }
    assert.equal(existsSync(`${dir}.lock`), false, 'the last release gives the directory back');
  });
});
