/** SQL of ingestion: the dead-letter table. */
import { randomUUID } from 'node:crypto';
import type { Db, Tx } from '../../db/schema';

/**
 * The tenant a dead letter is filed under when its message names no tenant UUID: the nil
 * UUID, which no tenant has (tenant ids are random v4 UUIDs). See migrations/0002.
 */
export const UNATTRIBUTED_TENANT = '00000000-0000-0000-0000-000000000000';

/** What is kept of a message that cannot become an entry. */
export interface DeadLetter {
  eventId: string | null;
  /** the tenant the row is filed under (RLS): the claimed tenant when a UUID, else {@link UNATTRIBUTED_TENANT} */
  tenantId: string;
  /** what the message claimed as its tenant, untrusted, as received */
  claimedTenant: string | null;
  subject: string | null;
  reason: string;
  payload: string;
}

/**
 * Parks a poison message. Runs inside `withTenant(d.tenantId)`, as the application role under
 * RLS like every other write. A redelivered poison message (same event id) is kept once,
 * whichever tenant the first copy was filed under (the unique index is global).
 */
export async function insertDeadLetter(trx: Tx, d: DeadLetter): Promise<boolean> {
  const res = await trx
    .insertInto('dead_letters')
    .values({
      id: randomUUID(),
      event_id: d.eventId,
      tenant_id: d.tenantId,
      claimed_tenant: d.claimedTenant,
      subject: d.subject,
      reason: d.reason,
      payload: d.payload,
    })
    .onConflict((oc) => oc.column('event_id').where('event_id', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  return res !== undefined;
}

/**
 * Most recent dead letters, newest first (operators and tests read them). On the owner
 * connection this sees every tenant's only when the owner bypasses RLS (a superuser);
 * inside `withTenant` it sees that tenant's.
 */
export async function listDeadLetters(db: Db, limit = 100) {
  return db.selectFrom('dead_letters').selectAll().orderBy('received_at', 'desc').limit(limit).execute();
}
