/** SQL of the chain: the per-tenant append lock, the chain head, inserts and ordered scans. */
import { sql } from 'kysely';
import type { Db, Tx } from '@gatehouse/platform/db';
import type { AuditEntry } from './chain.schemas';
import { iso } from '@gatehouse/platform/formats';

/** An `entries` row as the database returns it. */
export interface EntryRow {
  id: string;
  tenant_id: string;
  seq: string | number | bigint;
  event_id: string;
  type: string;
  actor_id: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  data: Record<string, unknown>;
  occurred_at: Date | string;
  recorded_at: Date | string;
  prev_hash: string;
  hash: string;
}

/** A row ready to insert (the hash already computed). */
export interface NewEntryRow {
  id: string;
  tenant_id: string;
  seq: number;
  event_id: string;
  type: string;
  actor_id: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  data: Record<string, unknown>;
  occurred_at: string;
  prev_hash: string;
  hash: string;
}


/** Maps a row to the API's AuditEntry. */
export function toEntry(r: EntryRow): AuditEntry {
  return {
    id: r.id,
    seq: Number(r.seq),
    tenantId: r.tenant_id,
    type: r.type,
    actorId: r.actor_id,
    subjectId: r.subject_id,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    eventId: r.event_id,
    data: r.data,
    occurredAt: iso(r.occurred_at),
    recordedAt: iso(r.recorded_at),
    hash: r.hash,
    prevHash: r.prev_hash,
  };
}

/**
 * Serialises appends to one tenant's chain until the transaction ends, so two concurrent
 * appends can never read the same head and fork the chain. Other tenants are not blocked.
 */
export async function lockTenantChain(trx: Tx, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`audit:${tenantId}`}))`.execute(trx);
}

/** The last entry's seq and hash, or undefined for an empty chain. */
export async function chainHead(trx: Tx, tenantId: string): Promise<{ seq: number; hash: string } | undefined> {
  const row = await trx
    .selectFrom('entries')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', tenantId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { seq: Number(row.seq), hash: row.hash as string } : undefined;
}

/** Inserts an entry; undefined when an entry for the same event id exists (a redelivery). */
export async function insertEntry(trx: Tx, row: NewEntryRow): Promise<EntryRow | undefined> {
  return (await trx
    .insertInto('entries')
    .values({ ...row, data: JSON.stringify(row.data) })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returningAll()
    .executeTakeFirst()) as EntryRow | undefined;
}

/** Entries after `afterSeq` in chain order. */
export async function chainPage(db: Db | Tx, tenantId: string, afterSeq: number, limit: number): Promise<EntryRow[]> {
  return (await db
    .selectFrom('entries')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('seq', '>', afterSeq)
    .orderBy('seq', 'asc')
    .limit(limit)
    .execute()) as EntryRow[];
}

/**
 * Every tenant with at least one entry. Cross-tenant by nature (`gatehouse audit verify` with
 * no tenant), so callers pass the owner connection.
 */
export async function listChainTenants(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('entries').select('tenant_id').distinct().orderBy('tenant_id').execute();
  return rows.map((r) => r.tenant_id as string);
}
