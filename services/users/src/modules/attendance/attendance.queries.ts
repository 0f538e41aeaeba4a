/** SQL for attendance. Every function takes the executor, so it runs inside the caller's transaction. */
import type { AttendanceRow, EventRow, NewAttendance, Tx } from '../../db/schema';

export type { AttendanceRow } from '../../db/schema';

/**
 * A check-in's reads in one statement (they were three round trips): the event, whether the
 * member has a profile here, whether they are checked in already.
 */
export async function findCheckInContext(
  trx: Tx,
  eventId: string,
  userId: string,
): Promise<{ event: EventRow; member: boolean; checkedIn: boolean } | undefined> {
  const row = await trx
    .selectFrom('events')
    .selectAll('events')
    .select((eb) => [
      eb.exists(eb.selectFrom('profiles').select('profiles.id').where('profiles.id', '=', userId)).as('member'),
      eb.exists(eb.selectFrom('attendance').select('attendance.user_id').where('attendance.event_id', '=', eventId).where('attendance.user_id', '=', userId)).as('checked_in'),
    ])
    .where('events.id', '=', eventId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { member, checked_in, ...event } = row;
  return { event, member: Boolean(member), checkedIn: Boolean(checked_in) };
}

/**
 * Inserts the check-in unless one exists. Concurrent scans of the same member all reach this
 * statement; the primary key lets exactly one insert, the others get `undefined` (after
 * waiting for the winner's commit, so they can then read its row).
 */
export async function insertCheckIn(trx: Tx, row: NewAttendance): Promise<AttendanceRow | undefined> {
  return trx
    .insertInto('attendance')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'event_id', 'user_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** A member's record for an event, if any. */
export async function findAttendance(trx: Tx, eventId: string, userId: string): Promise<AttendanceRow | undefined> {
  return trx
    .selectFrom('attendance')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** Sets the check-out time unless already set; `undefined` when nothing changed. */
export async function checkOut(trx: Tx, eventId: string, userId: string, at: Date, by: string): Promise<AttendanceRow | undefined> {
  return trx
    .updateTable('attendance')
    .set({ checked_out_at: at, checked_out_by: by })
    .where('event_id', '=', eventId)
    .where('user_id', '=', userId)
    .where('checked_out_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** An attendance row with the member's names (event lists). */
export type AttendanceWithNames = AttendanceRow & { username: string | null; display_name: string | null };

/** Every record of an event with the members' names, by check-in time. */
export async function listEventAttendance(trx: Tx, eventId: string): Promise<AttendanceWithNames[]> {
  return trx
    .selectFrom('attendance as a')
    .innerJoin('profiles as p', (j) => j.onRef('p.tenant_id', '=', 'a.tenant_id').onRef('p.id', '=', 'a.user_id'))
    .selectAll('a')
    .select(['p.username', 'p.display_name'])
    .where('a.event_id', '=', eventId)
    .orderBy('a.checked_in_at')
    .orderBy('a.user_id')
    .execute();
}

/** An attendance row with the event's title and start (a member's own list). */
export type AttendanceWithEvent = AttendanceRow & { title: string; starts_at: Date };

/** A member's records, newest check-in first (keyset pagination on check-in time and event id). */
export async function listUserAttendance(
  trx: Tx,
  userId: string,
  opts: { before?: { at: Date; id: string }; limit: number },
): Promise<AttendanceWithEvent[]> {
  let q = trx
    .selectFrom('attendance as a')
    .innerJoin('events as e', (j) => j.onRef('e.tenant_id', '=', 'a.tenant_id').onRef('e.id', '=', 'a.event_id'))
    .selectAll('a')
    .select(['e.title', 'e.starts_at'])
    .where('a.user_id', '=', userId);
  if (opts.before) {
    const b = opts.before;
    q = q.where((eb) => eb.or([eb('a.checked_in_at', '<', b.at), eb.and([eb('a.checked_in_at', '=', b.at), eb('a.event_id', '<', b.id)])]));
  }
  return q.orderBy('a.checked_in_at', 'desc').orderBy('a.event_id', 'desc').limit(opts.limit).execute();
}

/** The roster of an event with the members' names, by name. */
export async function listRoster(trx: Tx, eventId: string): Promise<Array<{ user_id: string; username: string | null; display_name: string | null }>> {
  return trx
    .selectFrom('event_roster as r')
    .innerJoin('profiles as p', (j) => j.onRef('p.tenant_id', '=', 'r.tenant_id').onRef('p.id', '=', 'r.user_id'))
    .select(['r.user_id', 'p.username', 'p.display_name'])
    .where('r.event_id', '=', eventId)
    .orderBy('p.display_name')
    .orderBy('p.username')
    .orderBy('r.user_id')
    .execute();
}

/** Which of these ids are members with a profile in the tenant. */
export async function existingProfiles(trx: Tx, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await trx.selectFrom('profiles').select('id').where('id', 'in', [...ids]).execute();
  return new Set(rows.map((r) => r.id));
}

/** Replaces the roster of an event with exactly these members. */
export async function replaceRoster(trx: Tx, tenantId: string, eventId: string, userIds: readonly string[]): Promise<void> {
  let del = trx.deleteFrom('event_roster').where('event_id', '=', eventId);
  if (userIds.length) del = del.where('user_id', 'not in', [...userIds]);
  await del.execute();
  if (userIds.length === 0) return;
  await trx
    .insertInto('event_roster')
    .values(userIds.map((user_id) => ({ tenant_id: tenantId, event_id: eventId, user_id })))
    .onConflict((oc) => oc.columns(['tenant_id', 'event_id', 'user_id']).doNothing())
    .execute();
}
