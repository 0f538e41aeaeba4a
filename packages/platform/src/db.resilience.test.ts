/**
 * A PostgreSQL restart (or a failover, or pg_terminate_backend) ends every server connection.
 * A connection that is checked out of the pool but idle at that moment (a transaction waiting
 * on something else, e.g. a relay publishing to NATS) used to emit an unhandled 'error' event
 * that crashed the whole process (the fault suite's PostgreSQL restart killed auth and audit
 * replicas). It must be logged, the work on it must fail, and the pool must serve new work.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from './db';
import { createTestDatabase, testLogger } from './testing';

describe('database connections ended by the server', async () => {
  const testDb = await createTestDatabase();
  after(() => testDb.drop());

  test('a checked-out idle connection that the server ends does not crash the process', { skip: !testDb.url && 'needs PostgreSQL (TEST_DATABASE_URL)' }, async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'resilience', logger: testLogger });
    try {
      const killer = new pg.Client({ connectionString: testDb.url });
      await killer.connect();
      const failed = await db.admin
        .connection()
        .execute(async (conn) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn);
          // the connection is held but idle while the server ends it
          await killer.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
          await sleep(300);
          await sql`select 1`.execute(conn);
          return false;
        })
        .catch(() => true);
      await killer.end();
      assert.equal(failed, true, 'work on the ended connection fails');
      // and the pool hands out a working connection for the next piece of work
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db.admin);
      assert.equal(rows[0]!.one, 1);
      await db.ping();
    } finally {
      await db.close();
    }
  });

  test('every session asks for the idle-transaction limit and keepalives; a transaction left idle past it is ended, and the pool recovers', { skip: !testDb.url && 'needs PostgreSQL (TEST_DATABASE_URL)' }, async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'resilience', logger: testLogger, idleInTransactionTimeoutSec: 1, tcpKeepaliveSec: 45 });
    try {
      const { rows } = await sql<{ idle: string; keepalive: string }>`select current_setting('idle_in_transaction_session_timeout') as idle, current_setting('tcp_keepalives_idle') as keepalive`.execute(db.admin);
      assert.deepEqual(rows[0], { idle: '1s', keepalive: '45' });
      const ended = await db.admin
        .transaction()
        .execute(async (trx) => {
          await sql`select 1`.execute(trx);
          await sleep(2500); // a client stuck inside its transaction
          await sql`select 1`.execute(trx);
          return false;
        })
        .catch(() => true);
      assert.equal(ended, true, 'the server ended the idle transaction: the work fails');
      const after2 = await sql<{ one: number }>`select 1 as one`.execute(db.admin);
      assert.equal(after2.rows[0]!.one, 1);
    } finally {
      await db.close();
    }
  });

  test('0 turns the limits off', { skip: !testDb.url && 'needs PostgreSQL (TEST_DATABASE_URL)' }, async () => {
    const db = await createDatabase({ url: testDb.url, schema: 'resilience', logger: testLogger, idleInTransactionTimeoutSec: 0, tcpKeepaliveSec: 0 });
    try {
      const { rows } = await sql<{ idle: string }>`select current_setting('idle_in_transaction_session_timeout') as idle`.execute(db.admin);
      assert.equal(rows[0]!.idle, '0');
    } finally {
      await db.close();
    }
  });
});
