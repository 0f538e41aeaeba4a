/**
 * Attendance: organizers scan members' QR codes to check them in and out of events.
 *
 * Rules (stated once, tested at the boundaries):
 * - check-in is open from `startsAt − checkInEarlyMinutes` (inclusive) until `endsAt`
 *   (exclusive); outside it: 409 `check_in_closed`;
 * - status is `late` when the check-in time is at or after `startsAt + lateAfterMinutes`
 *   (exactly on the minute is late), `present` before;
 * - one record per member and event: a repeated scan returns the first record unchanged
 *   (`created: false`, 200), also under concurrent scans;
 * - check-out needs a check-in (409 `not_checked_in`); a repeated check-out returns the record;
 * - the token must be valid for this tenant (400 `invalid_qr_token`) and name a member with a
 *   profile here (404 `user_not_found`).
 */
import type { Logger } from 'pino';
import type client from 'prom-client';
import { Counter } from 'prom-client';
import type { AccessClaims } from '@gatehouse/platform/auth';
import type { Database, Tx } from '../../db/schema';
import { makeEvent } from '@gatehouse/platform/events';
import { EVENT_SOURCE, readCursor } from '../../common';
import { encodeCursor, iso } from '@gatehouse/platform/formats';
import { eventErrors } from '../events/events.errors';
import { findEvent } from '../events/events.queries';
import { qrErrors } from '../qr/qr.errors';
import type { QrTokens } from '../qr/qr.token';
import { attendanceErrors } from './attendance.errors';
import {
  checkOut,
  existingProfiles,
  findAttendance,
  findCheckInContext,
  listRoster,
  replaceRoster,
  insertCheckIn,
  listEventAttendance,
  listUserAttendance,
  type AttendanceRow,
} from './attendance.queries';
import type { Attendance, Roster } from './attendance.schemas';
import { errors } from '@gatehouse/platform/errors';
import { toCsv } from './attendance.csv';

function toAttendance(row: AttendanceRow): Attendance {
  return {
    eventId: row.event_id,
    userId: row.user_id,
    status: row.status,
    checkedInAt: iso(row.checked_in_at),
    checkedOutAt: row.checked_out_at ? iso(row.checked_out_at) : null,
  };
}

const MINUTE = 60_000;

/** `late` from `startsAt + lateAfterMinutes` on (inclusive), else `present`. */
export function attendanceStatus(at: Date, startsAt: Date, lateAfterMinutes: number): 'present' | 'late' {
  return at.getTime() >= startsAt.getTime() + lateAfterMinutes * MINUTE ? 'late' : 'present';
}

function scansCounter(registry: client.Registry): Counter<'action' | 'result'> {
  const name = 'gatehouse_attendance_scans_total';
  return (
    (registry.getSingleMetric(name) as Counter<'action' | 'result'> | undefined) ??
    new Counter({
      name,
      help: 'QR scans by action (check_in, check_out) and result (created, repeated, rejected)',
      labelNames: ['action', 'result'],
      registers: [registry],
    })
  );
}

/** Creates the attendance service (rules in the file comment). */
export function createAttendanceService(deps: {
  db: Database;
  tokens: QrTokens;
  clock: () => Date;
  checkInEarlyMinutes: number;
  registry: client.Registry;
  logger: Logger;
}) {
  const { db, tokens, clock, logger } = deps;
  const early = deps.checkInEarlyMinutes * MINUTE;
  const scans = scansCounter(deps.registry);

  /** The member a token names, for the scanning organizer's tenant; 400 otherwise. */
  function member(auth: AccessClaims, qrToken: string, action: string): string {
    const v = tokens.verify(qrToken, auth.tid);
    if (!v.ok) {
      scans.inc({ action, result: 'rejected' });
      logger.info({ reason: v.reason, scanner: auth.sub }, 'QR token refused');
      throw qrErrors.invalidQrToken();
    }
    return v.claims.userId;
  }

  async function loadEvent(trx: Tx, eventId: string) {
    const event = await findEvent(trx, eventId);
    if (!event) throw eventErrors.eventNotFound();
    return event;
  }

  function attendanceEvent(type: 'attendance.events.checked_in' | 'attendance.events.checked_out', tenantId: string, row: AttendanceRow, actorId: string) {
    return makeEvent({
      source: EVENT_SOURCE,
      type,
      tenantId,
      subject: row.user_id,
      data: { ...toAttendance(row), actorId },
    });
  }

  return {
    /** Checks the member in; `created` is false for a repeated scan (same record). */
    async checkIn(auth: AccessClaims, eventId: string, qrToken: string): Promise<{ attendance: Attendance; created: boolean }> {
      const userId = member(auth, qrToken, 'check_in');
      const now = clock();
      const result = await db.withTenant(auth.tid, async (trx, emit) => {
        const found = await findCheckInContext(trx, eventId, userId);
        if (!found) throw eventErrors.eventNotFound();
        const { event } = found;
        if (found.checkedIn) {
          const existing = await findAttendance(trx, eventId, userId);
          if (existing) return { row: existing, created: false };
        }
        const opensAt = new Date(event.starts_at.getTime() - early);
        if (now < opensAt || now >= event.ends_at) throw attendanceErrors.checkInClosed(opensAt, event.ends_at);
        if (!found.member) throw attendanceErrors.userNotFound();
        const inserted = await insertCheckIn(trx, {
          tenant_id: auth.tid,
          event_id: eventId,
          user_id: userId,
          status: attendanceStatus(now, event.starts_at, event.late_after_minutes),
          checked_in_at: now,
          checked_out_at: null,
          checked_in_by: auth.sub,
          checked_out_by: null,
        });
        if (!inserted) {
          // a concurrent scan won; its row is committed by now (the insert waited for it)
          const row = await findAttendance(trx, eventId, userId);
          if (!row) throw new Error('attendance row vanished after a conflicting insert');
          return { row, created: false };
        }
        await emit(attendanceEvent('attendance.events.checked_in', auth.tid, inserted, auth.sub));
        return { row: inserted, created: true };
      });
      scans.inc({ action: 'check_in', result: result.created ? 'created' : 'repeated' });
      return { attendance: toAttendance(result.row), created: result.created };
    },

    /** Records the check-out; a repeated check-out returns the record unchanged. */
    async checkOut(auth: AccessClaims, eventId: string, qrToken: string): Promise<Attendance> {
      const userId = member(auth, qrToken, 'check_out');
      const now = clock();
      const result = await db.withTenant(auth.tid, async (trx, emit) => {
        await loadEvent(trx, eventId);
        const updated = await checkOut(trx, eventId, userId, now, auth.sub);
        if (updated) {
          await emit(attendanceEvent('attendance.events.checked_out', auth.tid, updated, auth.sub));
          return { row: updated, changed: true };
        }
        const row = await findAttendance(trx, eventId, userId);
        if (!row) throw attendanceErrors.notCheckedIn();
        return { row, changed: false };
      });
      scans.inc({ action: 'check_out', result: result.changed ? 'created' : 'repeated' });
      return toAttendance(result.row);
    },

    /**
     * Every record of an event, with the members' names, by check-in time; then each member
     * on the roster who has not checked in, as `absent` (by name).
     */
    async forEvent(tenantId: string, eventId: string): Promise<Attendance[]> {
      const { rows, roster } = await db.withTenant(tenantId, async (trx) => {
        await loadEvent(trx, eventId);
        return { rows: await listEventAttendance(trx, eventId), roster: await listRoster(trx, eventId) };
      });
      const expected = new Set(roster.map((r) => r.user_id));
      const items: Attendance[] = rows.map((r) => ({ ...toAttendance(r), username: r.username, displayName: r.display_name, expected: expected.has(r.user_id) }));
      const seen = new Set(rows.map((r) => r.user_id));
      for (const r of roster) {
        if (seen.has(r.user_id)) continue;
        items.push({ eventId, userId: r.user_id, status: 'absent', checkedInAt: null, checkedOutAt: null, username: r.username, displayName: r.display_name, expected: true });
      }
      return items;
    },

    /** The event's roster. */
    async roster(tenantId: string, eventId: string): Promise<Roster> {
      const rows = await db.withTenant(tenantId, async (trx) => {
        await loadEvent(trx, eventId);
        return listRoster(trx, eventId);
      });
      return { eventId, items: rows.map((r) => ({ userId: r.user_id, username: r.username, displayName: r.display_name })) };
    },

    /** Replaces the roster; every id must be a member of the tenant (400 naming the unknown ones). */
    async setRoster(tenantId: string, eventId: string, userIds: string[]): Promise<Roster> {
      const ids = [...new Set(userIds.map((id) => id.toLowerCase()))];
      await db.withTenant(tenantId, async (trx) => {
        await loadEvent(trx, eventId);
        const known = await existingProfiles(trx, ids);
        const unknown = ids.filter((id) => !known.has(id));
        if (unknown.length) {
          throw errors.validation(
            unknown.slice(0, 10).map((id) => ({ path: 'body.userIds', message: `${id} is not a member of this tenant` })),
            'Some user ids are not members of this tenant.',
          );
        }
        await replaceRoster(trx, tenantId, eventId, ids);
      });
      return this.roster(tenantId, eventId);
    },

    /** The same list as CSV (formula-safe, see attendance.csv.ts). */
    async forEventCsv(tenantId: string, eventId: string): Promise<string> {
      const items = await this.forEvent(tenantId, eventId);
      return toCsv(
        ['userId', 'username', 'displayName', 'status', 'checkedInAt', 'checkedOutAt'],
        items.map((a) => [a.userId, a.username, a.displayName, a.status, a.checkedInAt, a.checkedOutAt]),
      );
    },

    /** The caller's own records, newest first. */
    async forUser(tenantId: string, userId: string, q: { cursor?: string; limit?: number }): Promise<{ items: Attendance[]; nextCursor: string | null }> {
      const limit = q.limit ?? 50;
      const rows = await db.withTenantRead(tenantId, (trx) =>
        listUserAttendance(trx, userId, { before: q.cursor ? readCursor(q.cursor) : undefined, limit: limit + 1 }),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => ({ ...toAttendance(r), eventTitle: r.title, eventStartsAt: iso(r.starts_at) })),
        nextCursor: rows.length > limit && last ? encodeCursor(last.checked_in_at, last.event_id) : null,
      };
    },
  };
}
export type AttendanceService = ReturnType<typeof createAttendanceService>;
