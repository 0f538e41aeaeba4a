/** SQL of the chain: the per-tenant append lock, the chain head, inserts and ordered scans. */
import { sql, type RawBuilder } from 'kysely';
import { isUuid } from '@gatehouse/platform/formats';
import type { Db, EntryRow, NewEntryRow, Tx } from '../../db/schema';
import type { AuditEntry } from './chain.schemas';

export type { EntryRow } from '../../db/schema';

/** An entry as appended: everything but what the database sets (`recordedAt`). */
export type NewEntry = Omit<AuditEntry, 'recordedAt'>;

/** Maps a row to the API's AuditEntry (the one mapping from columns to fields). */
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
    occurredAt: r.occurred_at.toISOString(),
    recordedAt: r.recorded_at.toISOString(),
    hash: r.hash,
    prevHash: r.prev_hash,
  };
}

/** Maps an entry to its row (the one mapping from fields to columns). */
function toRow(e: NewEntry): NewEntryRow {
  return {
    id: e.id,
    tenant_id: e.tenantId,
    seq: e.seq,
    event_id: e.eventId,
    type: e.type,
    actor_id: e.actorId,
    subject_id: e.subjectId,
    ip: e.ip,
    user_agent: e.userAgent,
    request_id: e.requestId,
    data: JSON.stringify(e.data),
    occurred_at: e.occurredAt,
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

/**
 * Serialises appends to one tenant's chain until the transaction ends, so two concurrent
 * appends can never read the same head and fork the chain. Other tenants are not blocked.
 */
export async function lockTenantChain(trx: Tx, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${lockKey(tenantId)}))`.execute(trx);
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
  return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
}

/** The per-tenant append lock's key: one text for {@link lockTenantChain} and {@link lockAndReadHead}. */
const lockKey = (tenantId: string) => `audit:${tenantId}`;

/**
 * {@link lockTenantChain} then {@link chainHead}, as one message riding the transaction's open
 * (`db.withTenantLed`): two statements, so the head is read with a snapshot taken after the lock
 * was granted, as when they are sent one by one. Inlined, not bound: the lead goes by the
 * simple query protocol, and the tenant id is a checked UUID (hex digits and dashes).
 */
export function lockAndReadHead(tenantId: string): RawBuilder<{ seq: string | number; hash: string }> {
  if (!isUuid(tenantId)) throw new Error('the audit chain needs a tenant uuid');
  return sql.raw(
    `select pg_advisory_xact_lock(hashtext('${lockKey(tenantId)}'));\n` +
      `select seq, hash from entries where tenant_id = '${tenantId}' order by seq desc limit 1`,
  );
}

/**
 * Inserts linked entries in one statement; returns the rows inserted. An entry whose event id
 * is already in the log (a redelivery) is skipped, so fewer rows come back than were given.
 */
export async function insertEntries(trx: Tx, entries: NewEntry[]): Promise<EntryRow[]> {
  return trx
    .insertInto('entries')
    .values(entries.map(toRow))
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returningAll()
    .execute();
}

/** Inserts an entry; undefined when an entry for the same event id exists (a redelivery). */
export async function insertEntry(trx: Tx, entry: NewEntry): Promise<EntryRow | undefined> {
  return trx
    .insertInto('entries')
    .values(toRow(entry))
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Entries after `afterSeq` in chain order. */
export async function chainPage(db: Db | Tx, tenantId: string, afterSeq: number, limit: number): Promise<EntryRow[]> {
  return db.selectFrom('entries').selectAll().where('tenant_id', '=', tenantId).where('seq', '>', afterSeq).orderBy('seq', 'asc').limit(limit).execute();
}

/**
 * Every tenant with at least one entry. Cross-tenant by nature (`gatehouse audit verify` with
 * no tenant), so callers pass the owner connection.
 */
export async function listChainTenants(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('entries').select('tenant_id').distinct().orderBy('tenant_id').execute();
  return rows.map((r) => r.tenant_id);
}
