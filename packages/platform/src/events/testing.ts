import { eventually as poll } from '../testing';
/**
 * Helpers for the events tests (test-only module): the NATS URL, a quiet logger, polling
 * assertions, event builders, and the outbox/inbox tables on PGlite and (when TEST_PG_URL is
 * set) PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { pino } from 'pino';
import { makeEvent, type CloudEvent } from './envelope';
import type { EventTransport } from './transport';

export const NATS_URL = process.env.TEST_NATS_URL;
export const PG_URL = process.env.TEST_PG_URL ?? process.env.TEST_DATABASE_URL;
export const logger = pino({ level: 'silent' });

/** Random per test process, so names in shared servers (schemas, streams) never collide. */
export const run = randomBytes(4).toString('hex');

/** Retry `check` until it passes or `timeoutMs` runs out. */
export const eventually = (check: () => void | Promise<void>, timeoutMs = 5000): Promise<void> => poll(check, timeoutMs, 20);

/** A valid event of `type` whose data is `{ n }`. */
export const ev = (type: string, n = 0, tenantId = 't1') =>
  makeEvent({ source: 'test', type, tenantId, subject: `s${n}`, data: { n } });

/** The tables these tests touch: the outbox and inbox, and a side effect of a consumer. */
export interface TestTables {
  outbox: {
    id: string;
    subject: string;
    payload: unknown;
    created_at: Date;
    published_at: Date | null;
    attempts: number;
    last_error: string | null;
  };
  inbox: { consumer: string; event_id: string; processed_at: Date };
  effects: { event_id: string };
}
export type Db = Kysely<TestTables>;

/** The outbox and inbox tables exactly as the migrations create them. */
export async function createTables(db: Db, schema: string): Promise<void> {
  await sql`create schema ${sql.id(schema)}`.execute(db);
  await sql`create table ${sql.id(schema, 'outbox')} (id uuid primary key, subject text not null, payload jsonb not null, created_at timestamptz not null default now(), published_at timestamptz, attempts int not null default 0, last_error text)`.execute(
    db,
  );
  await sql`create index outbox_pending on ${sql.id(schema, 'outbox')} (created_at) where published_at is null`.execute(db);
  await sql`create table ${sql.id(schema, 'inbox')} (consumer text not null, event_id text not null, processed_at timestamptz not null default now(), primary key (consumer, event_id))`.execute(
    db,
  );
}

export interface TestDb {
  name: string;
  db: Db;
  /** a fresh schema with empty outbox and inbox */
  schema(): Promise<string>;
  close(): Promise<void>;
}

/** PGlite always, real PostgreSQL too when TEST_PG_URL is set. Opened lazily, in hooks. */
export function testDbs(): Array<{ name: string; open(): TestDb }> {
  let n = 0;
  const kinds = [
    {
      name: 'pglite',
      open(): TestDb {
        const db = new Kysely<TestTables>({ dialect: new PGliteDialect(new PGlite()) });
        return {
          name: 'pglite',
          db,
          async schema() {
            const s = `gh_events_test_${run}_${n++}`;
            await createTables(db, s);
            return s;
          },
          close: () => db.destroy(),
        };
      },
    },
  ];
  if (PG_URL) {
    kinds.push({
      name: 'postgresql',
      open(): TestDb {
        const db = new Kysely<TestTables>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, max: 12 }) }) });
        const made: string[] = [];
        return {
          name: 'postgresql',
          db,
          async schema() {
            const s = `gh_events_test_${run}_${n++}`;
            await createTables(db, s);
            made.push(s);
            return s;
          },
          async close() {
            for (const s of made) await sql`drop schema ${sql.id(s)} cascade`.execute(db);
            await db.destroy();
          },
        };
      },
    });
  }
  return kinds;
}

/** A transport wrapper whose publish fails while `down` is set. */
export function flaky(inner: EventTransport): EventTransport & { down: boolean; failures: number } {
  const t = {
    kind: inner.kind,
    down: true,
    failures: 0,
    async publish(e: CloudEvent) {
      if (t.down) {
        t.failures += 1;
        throw new Error('transport down (test)');
      }
      await inner.publish(e);
    },
    subscribe: inner.subscribe.bind(inner),
    ping: inner.ping.bind(inner),
    close: inner.close.bind(inner),
  };
  return t;
}
