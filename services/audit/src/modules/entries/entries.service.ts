/**
 * Reading the log: filtered, cursor-paginated lists (newest first, in seq order, so pages
 * never skip or repeat an entry while new ones arrive) and streamed exports.
 */
import type { Database } from '../../db/schema';
import { chainHead, toEntry } from '../chain/chain.queries';
import type { AuditEntry } from '../chain/chain.schemas';
import { entriesErrors } from './entries.errors';
import { listEntries, type EntryFilter } from './entries.queries';

/** Filters as the HTTP query gives them. */
export interface EntryQuery {
  /** exact type, or a prefix ending in `.*` (e.g. `auth.events.*`) */
  type?: string;
  actorId?: string;
  subjectId?: string;
  from?: string;
  to?: string;
}

/** A page of entries. */
export interface EntryPage {
  items: AuditEntry[];
  nextCursor: string | null;
}

const EXPORT_BATCH = 500;

/** Opaque cursor: the last seq of the page. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`v1:${seq}`).toString('base64url');
}

/** Reads a cursor from {@link encodeCursor}; throws `invalid_cursor` otherwise. */
export function decodeCursor(cursor: string): number {
  const m = /^v1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw entriesErrors.invalidCursor();
  return Number(m[1]);
}

/** Turns query filters into query-module filters (type prefixes, dates, range check). */
export function toFilter(q: EntryQuery, extra: Partial<EntryFilter> = {}): EntryFilter {
  const f: EntryFilter = { ...extra };
  if (q.type !== undefined) {
    if (q.type.endsWith('.*')) f.typePrefix = q.type.slice(0, -1);
    else f.type = q.type;
  }
  if (q.actorId !== undefined) f.actorId = q.actorId;
  if (q.subjectId !== undefined) f.subjectId = q.subjectId;
  if (q.from !== undefined) f.from = new Date(q.from);
  if (q.to !== undefined) f.to = new Date(q.to);
  if (f.from && f.to && f.to <= f.from) throw entriesErrors.invalidRange();
  return f;
}

/** Creates the entries service. */
export function createEntriesService(deps: { db: Database }) {
  const { db } = deps;
  return {
    /** One page, newest first. */
    async list(tenantId: string, filter: EntryFilter, opts: { cursor?: string; limit: number }): Promise<EntryPage> {
      const beforeSeq = opts.cursor !== undefined ? decodeCursor(opts.cursor) : undefined;
      const rows = await db.withTenantRead(tenantId, (trx) =>
        listEntries(trx, tenantId, filter, { order: 'desc', limit: opts.limit + 1, beforeSeq }),
      );
      const items = rows.slice(0, opts.limit).map(toEntry);
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > opts.limit && last ? encodeCursor(last.seq) : null };
    },

    /**
     * Every matching entry in chain order (oldest first), read in batches so a large export
     * streams in constant memory. Entries appended after the export started are not included.
     */
    async *export(tenantId: string, filter: EntryFilter): AsyncGenerator<AuditEntry> {
      const head = await db.withTenantRead(tenantId, (trx) => chainHead(trx, tenantId));
      if (!head) return;
      let afterSeq = 0;
      for (;;) {
        const rows = await db.withTenantRead(tenantId, (trx) =>
          listEntries(trx, tenantId, filter, { order: 'asc', limit: EXPORT_BATCH, afterSeq, maxSeq: head.seq }),
        );
        for (const r of rows) yield toEntry(r);
        if (rows.length < EXPORT_BATCH) return;
        afterSeq = Number(rows[rows.length - 1]!.seq);
      }
    },
  };
}
export type EntriesService = ReturnType<typeof createEntriesService>;
