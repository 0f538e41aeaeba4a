/**
 * withTenant's open travels with its first statement (issue 13; db.pool.ts, openWithNext): one
 * round trip instead of two, on node-postgres' pipeline mode. What must hold besides: the
 * statement is written before the open is answered; an open that fails takes the statement
 * with it (nothing runs outside the transaction) and the caller gets the open's error; a
 * transaction with no statement, or one whose work fails first, leaves the connection clean.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { APP_ROLE, createDatabase, rlsSql } from './db';
import { createPgPool, lastResultPool, openReadWithNext, openWithNext } from './db.pool';
import { createTestDatabase, testLogger } from './testing';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

describe('a transaction opened with its first statement', async () => {
  const testDb = await createTestDatabase();
  after(() => testDb.drop());
  const pgOnly = { skip: !testDb.url && 'needs PostgreSQL (TEST_DATABASE_URL): PGlite runs in process, with no round trip to save' };

  /**
   * A one-connection pipelined pool whose socket writes and answers (ReadyForQuery) are recorded
   * in order: `write` for each message node-postgres writes, `socket` for each write the
   * socket makes to the kernel (its `_write` or `_writev`: several corked messages are one).
   */
  async function recordedPool() {
    const pool = createPgPool(testDb.url!, '', { logger: testLogger, poolSize: 1 }, true);
    const events: string[] = [];
    type Stream = { write: (...a: unknown[]) => boolean; _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    pool.on('connect', (client: pg.PoolClient) => {
      const conn = (client as unknown as { connection: { stream: Stream; prependListener(e: string, f: () => void): void } }).connection;
      const write = conn.stream.write.bind(conn.stream);
      conn.stream.write = (...a: unknown[]) => {
        events.push('write');
        return write(...a);
      };
      for (const m of ['_write', '_writev'] as const) {
        const impl = conn.stream[m].bind(conn.stream);
        conn.stream[m] = (...a: unknown[]) => {
          events.push('socket');
          impl(...a);
        };
      }
      // ahead of the client's own listener, which writes the next queued query when not pipelined
      conn.prependListener('readyForQuery', () => events.push('answered'));
    });
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: lastResultPool(pool, { pipelinedOpen: true }) }) });
    // connect once so the recording starts with the session up
    await sql`select 1`.execute(db);
    return { db, events };
  }

  /** A database of one pooled connection per pool, in `schema`, with a tenant-owned table `notes` under RLS. */
  async function notesDatabase(schema: string) {
    const dir = await mkdtemp(path.join(tmpdir(), 'gh-pipe-'));
    await writeFile(
      path.join(dir, '0001_notes.sql'),
      `create table notes (id serial primary key, tenant_id uuid not null, body text not null);
       ${rlsSql('notes')}
       grant select, insert, update, delete on notes to ${APP_ROLE};
       grant usage on sequence notes_id_seq to ${APP_ROLE};`,
    );
    const db = await createDatabase({ url: testDb.url, schema, logger: testLogger, poolSize: 1 });
    await db.migrate(dir).catch(async (err: unknown) => {
      await db.close();
      throw err;
    });
    return db;
  }

  test('the statement is written before the open is answered, and runs inside the transaction the open began', pgOnly, async () => {
    const { db, events } = await recordedPool();
    try {
      const rows = await db.connection().execute(async (c) => {
        events.length = 0;
        const opened = await sql.raw(openWithNext("begin; set local app.probe = 'inside'")).execute(c);
        assert.equal(events.length, 0, 'nothing is sent for the open by itself');
        assert.deepEqual(opened.rows, []);
        const r = await sql<{ probe: string }>`select current_setting('app.probe', true) as probe`.execute(c);
        const firstAnswer = events.indexOf('answered');
        assert.ok(firstAnswer > 0, 'answered');
        assert.ok(events.slice(0, firstAnswer).filter((e) => e === 'write').length >= 2, `the open and the statement were both written before the first answer: ${events.join(' ')}`);
        // corked together (db.pool.ts, openThenRun): one write to the kernel, one wake-up of the server's backend
        assert.equal(events.filter((e) => e === 'socket').length, 1, `the open and the statement leave in one socket write: ${events.join(' ')}`);
        await sql.raw('commit').execute(c);
        return r.rows;
      });
      assert.equal(rows[0]?.probe, 'inside', 'the SET LOCAL of the open is seen by the statement behind it');
      const outside = await sql<{ probe: string | null }>`select current_setting('app.probe', true) as probe`.execute(db);
      assert.ok(!outside.rows[0]?.probe, 'and ends with the transaction');
    } finally {
      await db.destroy();
    }
  });

  test('a transaction that runs no statement sends nothing at all', pgOnly, async () => {
    const { db, events } = await recordedPool();
    try {
      for (const end of ['commit', 'rollback']) {
        await db.connection().execute(async (c) => {
          events.length = 0;
          await sql.raw(openWithNext("begin; set local app.probe = 'x'")).execute(c);
          const ended = await sql.raw(end).execute(c);
          assert.deepEqual(ended.rows, [{ command: end.toUpperCase() }], 'Kysely\'s answer to a sent one');
          assert.equal(events.length, 0, end);
        });
      }
      const { rows } = await sql<{ s: string }>`select pg_current_xact_id_if_assigned() is null and current_setting('app.probe', true) is distinct from 'x' as s`.execute(db);
      assert.ok(rows[0]?.s, 'no transaction left open, no setting left behind');
    } finally {
      await db.destroy();
    }
  });

  test('an open that fails: the statement behind it never runs, the caller gets the open\'s error, the connection stays usable', pgOnly, async () => {
    const { db } = await recordedPool();
    try {
      await sql`create table if not exists pipelined_probe (n int)`.execute(db);
      await db.connection().execute(async (c) => {
        await sql.raw(openWithNext('begin; set local role gh_no_such_role_anywhere')).execute(c);
        await assert.rejects(sql`insert into pipelined_probe values (1)`.execute(c), (err: { code?: string }) => {
          assert.equal(err.code, '22023', 'the open\'s own error (role does not exist), not the statement\'s 25P02');
          return true;
        });
        await sql.raw('rollback').execute(c);
      });
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pipelined_probe`.execute(db);
      assert.equal(rows[0]?.n, 0, 'the insert pipelined behind the failed open did not run');
      // the same (only) connection, next transaction
      const again = await db.connection().execute(async (c) => {
        await sql.raw(openWithNext('begin')).execute(c);
        await sql`insert into pipelined_probe values (2)`.execute(c);
        await sql.raw('commit').execute(c);
        return sql<{ n: number }>`select count(*)::int as n from pipelined_probe`.execute(c);
      });
      assert.equal(again.rows[0]?.n, 1);
    } finally {
      await db.destroy();
    }
  });

  test('withTenant: a transaction with no statement, work that fails before its first, and a failing first statement all leave the connection to the next tenant clean', pgOnly, async () => {
    // one connection: every withTenant below runs on the same session
    const db = await notesDatabase('pipelined');
    try {
      assert.equal(await db.withTenant(A, async () => 'no statement'), 'no statement');
      await assert.rejects(
        db.withTenant(A, async () => {
          throw new Error('before any statement');
        }),
        /before any statement/,
      );
      await assert.rejects(
        db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'crossing')`.execute(trx)),
        /row-level security/,
        "the first statement still runs under the tenant's policy",
      );
      await db.withTenant(B, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'b')`.execute(trx));
      const seen = await db.withTenant(A, (trx) => sql<{ body: string; tenant: string }>`select body, current_setting('app.tenant_id') as tenant from notes`.execute(trx));
      assert.deepEqual(seen.rows, [], 'A sees none of B');
      const b = await db.withTenant(B, (trx) => sql<{ body: string; u: string }>`select body, current_user as u from notes`.execute(trx));
      assert.deepEqual(b.rows, [{ body: 'b', u: APP_ROLE }]);
    } finally {
      await db.close();
    }
  });
  test('a one-statement read: the open, the statement and the COMMIT leave in one write, and the transaction is over when it answers', pgOnly, async () => {
    const { db, events } = await recordedPool();
    try {
      const rows = await db.connection().execute(async (c) => {
        events.length = 0;
        await sql.raw(openReadWithNext("begin; set local app.probe = 'read'")).execute(c);
        assert.equal(events.length, 0, 'nothing is sent for the open by itself');
        const r = await sql<{ probe: string }>`select current_setting('app.probe', true) as probe`.execute(c);
        const firstAnswer = events.indexOf('answered');
        assert.ok(events.slice(0, firstAnswer).filter((e) => e === 'write').length >= 3, `open, statement and COMMIT written before the first answer: ${events.join(' ')}`);
        assert.equal(events.filter((e) => e === 'socket').length, 1, `one socket write: ${events.join(' ')}`);
        assert.equal(events.filter((e) => e === 'answered').length, 3, 'the open, the statement and the COMMIT answered');
        const sent = events.length;
        const ended = await sql.raw('commit').execute(c);
        assert.deepEqual(ended.rows, [{ command: 'COMMIT' }], "the caller's COMMIT is answered as a sent one");
        assert.equal(events.length, sent, 'and sends nothing');
        await new Promise((resolve) => setTimeout(resolve, 5));
        // a statement outside any transaction block is its own: its transaction starts with it
        const fresh = await sql<{ fresh: boolean; probe: string | null }>`select now() = statement_timestamp() as fresh, current_setting('app.probe', true) as probe`.execute(c);
        assert.equal(fresh.rows[0]?.fresh, true, 'no transaction left open on the connection');
        assert.ok(!fresh.rows[0]?.probe, 'the SET LOCAL ended with it');
        return r.rows;
      });
      assert.equal(rows[0]?.probe, 'read', 'the statement ran inside the transaction the open began');
    } finally {
      await db.destroy();
    }
  });

  test('withTenantRead: rows under the tenant\'s policy; a second statement is refused unsent; a failing statement rolls back; the connection stays clean', pgOnly, async () => {
    // one connection: every transaction below runs on the same session
    const db = await notesDatabase('pipelined_read');
    try {
      await db.withTenant(A, (trx) => sql`insert into notes (tenant_id, body) values (${A}, 'a')`.execute(trx));
      await db.withTenant(B, (trx) => sql`insert into notes (tenant_id, body) values (${B}, 'b')`.execute(trx));
      const a = await db.withTenantRead(A, (trx) => sql<{ body: string; u: string }>`select body, current_user as u from notes`.execute(trx));
      assert.deepEqual(a.rows, [{ body: 'a', u: APP_ROLE }], "A's rows only, as the application role");
      await assert.rejects(
        db.withTenantRead(A, async (trx) => {
          await sql`select 1`.execute(trx);
          await sql`insert into notes (tenant_id, body) values (${A}, 'after the commit')`.execute(trx);
        }),
        /one-statement read \(withTenantRead\) ran a second statement/,
      );
      await assert.rejects(
        db.withTenantRead(A, (trx) => sql`select 1 / (count(*) - count(*)) from notes`.execute(trx)),
        (err: { code?: string }) => err.code === '22012',
        'the statement\'s own error (division by zero)',
      );
      const all = await db.withTenant(A, (trx) => sql<{ body: string; fresh: boolean }>`select body, now() = statement_timestamp() as fresh from notes`.execute(trx));
      assert.deepEqual(all.rows.map((r) => r.body), ['a'], 'the refused insert was never sent');
      const b = await db.withTenantRead(B, (trx) => sql<{ body: string; tenant: string }>`select body, current_setting('app.tenant_id') as tenant from notes`.execute(trx));
      assert.deepEqual(b.rows, [{ body: 'b', tenant: B }], 'the next read on the same connection is the next tenant\'s alone');
    } finally {
      await db.close();
    }
  });
});
