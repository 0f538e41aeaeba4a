/**
 * Events (meetings, classes) that members check in to. Any member of the tenant can read them;
 * organizers create them; an event is changed or deleted by the organizer who created it or by
 * an admin.
 */
import { randomUUID } from 'node:crypto';
import type { AccessClaims } from '@gatehouse/platform/auth';
import { hasRole } from '@gatehouse/platform/auth';
import type { Database } from '../../db/schema';
import { AppError } from '@gatehouse/platform/errors';
import { readCursor } from '../../common';
import { encodeCursor, iso } from '@gatehouse/platform/formats';
import { eventErrors } from './events.errors';
import { deleteEvent, findEvent, findEventForUpdate, insertEvent, listEvents, updateEvent, type EventChanges, type EventRow } from './events.queries';
import { DEFAULT_LATE_AFTER_MINUTES, type Event, type EventCreate, type EventPatch } from './events.schemas';

/** An events row as the API shows it. */
export function toEvent(row: EventRow): Event {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    location: row.location,
    startsAt: iso(row.starts_at),
    endsAt: iso(row.ends_at),
    lateAfterMinutes: row.late_after_minutes,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** Parses a date-time the schema already checked; a value JavaScript cannot represent (a leap second) is a 400. */
function time(value: string, path: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw new AppError('validation_failed', 400, { detail: 'The request is not valid.', errors: [{ path, message: 'is not a usable date-time' }] });
  }
  return d;
}

const text = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : v.normalize('NFC').trim() || null);

/** Creates the event service. */
export function createEventService(deps: { db: Database; clock: () => Date }) {
  const { db, clock } = deps;

  function mayManage(auth: AccessClaims, row: EventRow): boolean {
    return row.created_by === auth.sub || hasRole(auth.roles, ['admin']);
  }

  return {
    async create(auth: AccessClaims, body: EventCreate): Promise<Event> {
      const startsAt = time(body.startsAt, 'body.startsAt');
      const endsAt = time(body.endsAt, 'body.endsAt');
      if (endsAt <= startsAt) throw eventErrors.invalidTimes();
      const title = body.title.normalize('NFC').trim();
      if (!title) throw new AppError('validation_failed', 400, { detail: 'The request is not valid.', errors: [{ path: 'body.title', message: 'must not be blank' }] });
      const now = clock();
      const row = await db.withTenant(auth.tid, (trx) =>
        insertEvent(trx, {
          tenant_id: auth.tid,
          id: randomUUID(),
          title,
          description: text(body.description) ?? null,
          location: text(body.location) ?? null,
          starts_at: startsAt,
          ends_at: endsAt,
          late_after_minutes: body.lateAfterMinutes ?? DEFAULT_LATE_AFTER_MINUTES,
          created_by: auth.sub,
          created_at: now,
          updated_at: now,
        }),
      );
      return toEvent(row);
    },

    async get(tenantId: string, id: string): Promise<Event> {
      const row = await db.withTenantRead(tenantId, (trx) => findEvent(trx, id));
      if (!row) throw eventErrors.eventNotFound();
      return toEvent(row);
    },

    async list(tenantId: string, q: { from?: string; to?: string; cursor?: string; limit?: number }): Promise<{ items: Event[]; nextCursor: string | null }> {
      const limit = q.limit ?? 50;
      const rows = await db.withTenantRead(tenantId, (trx) =>
        listEvents(trx, {
          from: q.from ? time(q.from, 'querystring.from') : undefined,
          to: q.to ? time(q.to, 'querystring.to') : undefined,
          after: q.cursor ? readCursor(q.cursor) : undefined,
          limit: limit + 1,
        }),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toEvent), nextCursor: rows.length > limit && last ? encodeCursor(last.starts_at, last.id) : null };
    },

    async update(auth: AccessClaims, id: string, body: EventPatch): Promise<Event> {
      const changes: EventChanges = {};
      if (body.title !== undefined) {
        const t = body.title.normalize('NFC').trim();
        if (!t) throw new AppError('validation_failed', 400, { detail: 'The request is not valid.', errors: [{ path: 'body.title', message: 'must not be blank' }] });
        changes.title = t;
      }
      if (body.description !== undefined) changes.description = text(body.description) ?? null;
      if (body.location !== undefined) changes.location = text(body.location) ?? null;
      if (body.startsAt !== undefined) changes.starts_at = time(body.startsAt, 'body.startsAt');
      if (body.endsAt !== undefined) changes.ends_at = time(body.endsAt, 'body.endsAt');
      if (body.lateAfterMinutes !== undefined) changes.late_after_minutes = body.lateAfterMinutes;
      const row = await db.withTenant(auth.tid, async (trx) => {
        const before = await findEventForUpdate(trx, id);
        if (!before) throw eventErrors.eventNotFound();
        if (!mayManage(auth, before)) throw eventErrors.notOrganizer();
        const starts = changes.starts_at ?? before.starts_at;
        const ends = changes.ends_at ?? before.ends_at;
        if (ends <= starts) throw eventErrors.invalidTimes();
        if (Object.keys(changes).length === 0) return before;
        return updateEvent(trx, id, changes, clock());
      });
      return toEvent(row);
    },

    /** Deletes the event and its attendance records. */
    async remove(auth: AccessClaims, id: string): Promise<void> {
      await db.withTenant(auth.tid, async (trx) => {
        const before = await findEventForUpdate(trx, id);
        if (!before) throw eventErrors.eventNotFound();
        if (!mayManage(auth, before)) throw eventErrors.notOrganizer();
        await deleteEvent(trx, id);
      });
    },
  };
}
export type EventService = ReturnType<typeof createEventService>;
