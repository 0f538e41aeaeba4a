/**
 * The audit service's tables, as its migration (services/audit/migrations) creates them: the
 * one declaration every query is typed through (`Selectable`, `Insertable`).
 * `columns` repeats each table one line per column for run time; the type system holds it to
 * the interfaces and `schema.test.ts` holds it to the migrated database (see
 * packages/platform/src/schema.ts for why this and not a generator).
 */
import type { Generated, Insertable, Selectable } from 'kysely';
import type { Database as PlatformDatabase, Db as PlatformDb, Tx as PlatformTx } from '@gatehouse/platform/db';
import { platformColumns, type Int8, type Json, type PlatformTables, type SchemaSpec, type Timestamp } from '@gatehouse/platform/schema';

/** The audit log: one hash chain per tenant, append-only (no UPDATE or DELETE for anyone). */
export interface EntriesTable {
  id: string;
  tenant_id: string;
  /** position in the tenant's chain, gapless from 1 */
  seq: Int8;
  /** the CloudEvent id (unique) */
  event_id: string;
  type: string;
  actor_id: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  data: Json<Record<string, unknown>>;
  occurred_at: Timestamp;
  recorded_at: Generated<Date>;
  prev_hash: string;
  hash: string;
}

/** Messages that can never become entries, parked with the reason. */
export interface DeadLettersTable {
  id: string;
  event_id: string | null;
  /** the tenant the row is filed under (RLS, migration 0002): the claimed tenant when a UUID, else the nil UUID */
  tenant_id: string;
  /** what the message claimed as its tenant, untrusted, as received */
  claimed_tenant: string | null;
  subject: string | null;
  reason: string;
  payload: string;
  received_at: Generated<Date>;
}

/** Every table of the audit schema, the platform's included. */
export interface DB extends PlatformTables {
  entries: EntriesTable;
  dead_letters: DeadLettersTable;
}

/** The tables at run time, one line per column (checked against the interfaces above). */
export const columns = {
  ...platformColumns,
  entries: {
    id: 'uuid',
    tenant_id: 'uuid',
    seq: 'int8',
    event_id: 'text',
    type: 'text',
    actor_id: 'text null',
    subject_id: 'text null',
    ip: 'text null',
    user_agent: 'text null',
    request_id: 'text null',
    data: 'jsonb',
    occurred_at: 'timestamptz',
    recorded_at: 'timestamptz default',
    prev_hash: 'text',
    hash: 'text',
  },
  dead_letters: {
    id: 'uuid',
    event_id: 'text null',
    tenant_id: 'uuid',
    claimed_tenant: 'text null',
    subject: 'text null',
    reason: 'text',
    payload: 'text',
    received_at: 'timestamptz default',
  },
} satisfies SchemaSpec<DB>;

/** The audit service's database handle, owner connection and transactions. */
export type Database = PlatformDatabase<DB>;
export type Db = PlatformDb<DB>;
export type Tx = PlatformTx<DB>;

export type EntryRow = Selectable<EntriesTable>;
export type NewEntryRow = Insertable<EntriesTable>;
export type DeadLetterRow = Selectable<DeadLettersTable>;
