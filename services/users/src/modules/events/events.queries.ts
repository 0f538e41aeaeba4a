/** SQL for events. Every function takes the executor, so it runs inside the caller's transaction. */
import type { EventRow, EventUpdate, NewEvent, Tx } from '../../db/schema';

export type { EventRow } from '../../db/schema';

/** A new events row. */
export type EventInsert = NewEvent & { created_at: Date; updated_at: Date };
/** Columns an update may change. */
export type EventChanges = Pick<EventUpdate, 'title' | 'description' | 'location' | 'starts_at' | 'ends_at' | 'late_after_minutes'>;

/** Inserts an event and returns the row. */
export async function insertEvent(trx: Tx, row: EventInsert): Promise<EventRow> {
  return trx.insertInto('events').values(row).returningAll().executeTakeFirstOrThrow();
}

/** An event by id (in the transaction's tenant), if any. */
export async function findEvent(trx: Tx, id: string): Promise<EventRow | undefined> {
  return trx.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
}

/** An event by id (in the transaction's tenant), if any. */
export async function findEventForUpdate(trx: Tx, id: string): Promise<EventRow | undefined> {
  return trx.selectFrom('events').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Applies changes and returns the new row. */
export async function updateEvent(trx: Tx, id: string, changes: EventChanges, now: Date): Promise<EventRow> {
  return trx
    .updateTable('events')
    .set({ ...changes, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes an event (attendance goes with it: on delete cascade); false when there was none. */
export async function deleteEvent(trx: Tx, id: string): Promise<boolean> {
  const r = await trx.deleteFrom('events').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Events overlapping [from, to), by start time then id (keyset pagination: `after` is the
 * last row of the previous page).
 */
export async function listEvents(
  trx: Tx,
  opts: { from?: Date; to?: Date; after?: { at: Date; id: string }; limit: number },
): Promise<EventRow[]> {
  let q = trx.selectFrom('events').selectAll();
  if (opts.from) q = q.where('ends_at', '>', opts.from);
  if (opts.to) q = q.where('starts_at', '<', opts.to);
  if (opts.after) {
    const a = opts.after;
    q = q.where((eb) => eb.or([eb('starts_at', '>', a.at), eb.and([eb('starts_at', '=', a.at), eb('id', '>', a.id)])]));
  }
  return q.orderBy('starts_at').orderBy('id').limit(opts.limit).execute();
}
