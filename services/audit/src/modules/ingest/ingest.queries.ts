/** SQL of ingestion: the dead-letter table. */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/schema';

/** What is kept of a message that cannot become an entry. */
export interface DeadLetter {
  eventId: string | null;
  tenantId: string | null;
  subject: string | null;
  reason: string;
  payload: string;
}

/**
 * Parks a poison message. Runs on the owner connection: its tenant is unknown or not
 * trusted, so it cannot go through a tenant transaction. A redelivered poison message
 * (same event id) is kept once.
 */
export async function insertDeadLetter(db: Db, d: DeadLetter): Promise<boolean> {
  const res = await db
    .insertInto('dead_letters')
    .values({
      id: randomUUID(),
      event_id: d.eventId,
      tenant_id: d.tenantId,
      subject: d.subject,
      reason: d.reason,
      payload: d.payload,
    })
    .onConflict((oc) => oc.column('event_id').where('event_id', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  return res !== undefined;
}

/** Most recent dead letters, newest first (operators and tests read them). */
export async function listDeadLetters(db: Db, limit = 100) {
  return db.selectFrom('dead_letters').selectAll().orderBy('received_at', 'desc').limit(limit).execute();
}
