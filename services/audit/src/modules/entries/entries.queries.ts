/** SQL of entry lists: filters, keyset pages in seq order. */
import type { EntryRow, Tx } from '../../db/schema';

/** Filters of an entry list; every one optional. */
export interface EntryFilter {
  /** exact type, or every type under a prefix when `typePrefix` is set */
  type?: string;
  typePrefix?: string;
  actorId?: string;
  subjectId?: string;
  from?: Date;
  to?: Date;
  /** entries this user did, or that were done to them (social entries only when they did them) */
  ownerId?: string;
  /** only entries whose type starts with this prefix (the social log) */
  scopePrefix?: string;
}

/** Escapes LIKE wildcards so a prefix matches literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * One page of entries. `desc` pages go below `beforeSeq`; `asc` pages above `afterSeq` up
 * to `maxSeq` (exports fix `maxSeq` at the start, so entries appended meanwhile do not
 * stretch them).
 */
export async function listEntries(
  trx: Tx,
  tenantId: string,
  f: EntryFilter,
  page: { order: 'asc' | 'desc'; limit: number; beforeSeq?: number; afterSeq?: number; maxSeq?: number },
): Promise<EntryRow[]> {
  let q = trx.selectFrom('entries').selectAll().where('tenant_id', '=', tenantId);
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.typePrefix !== undefined) q = q.where('type', 'like', likePrefix(f.typePrefix));
  if (f.scopePrefix !== undefined) q = q.where('type', 'like', likePrefix(f.scopePrefix));
  if (f.actorId !== undefined) q = q.where('actor_id', '=', f.actorId);
  if (f.subjectId !== undefined) q = q.where('subject_id', '=', f.subjectId);
  if (f.from !== undefined) q = q.where('occurred_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('occurred_at', '<', f.to);
  if (f.ownerId !== undefined) {
    const owner = f.ownerId;
    q = q.where((eb) =>
      eb.or([
        eb('actor_id', '=', owner),
        eb.and([eb('subject_id', '=', owner), eb('type', 'not like', likePrefix('social.events.'))]),
      ]),
    );
  }
  if (page.beforeSeq !== undefined) q = q.where('seq', '<', page.beforeSeq);
  if (page.afterSeq !== undefined) q = q.where('seq', '>', page.afterSeq);
  if (page.maxSeq !== undefined) q = q.where('seq', '<=', page.maxSeq);
  return q.orderBy('seq', page.order).limit(page.limit).execute();
}
