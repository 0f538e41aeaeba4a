/**
 * The per-tenant hash chain: appends (serialised per tenant, idempotent on the event id)
 * and verification. Every entry, ingested or recorded through the social log, goes through
 * {@link createChainService}'s `append`.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Tx } from '@gatehouse/platform/db';
import { GENESIS_HASH, entryHash, type HashedFields } from './chain.hash';
import { chainHead, chainPage, insertEntry, lockTenantChain, toEntry, type EntryRow } from './chain.queries';
import type { AuditEntry } from './chain.schemas';

/** What an entry records, already sanitised (see chain.sanitize.ts). */
export interface AppendInput {
  eventId: string;
  type: string;
  actorId: string | null;
  subjectId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
  occurredAt: Date;
}

/** Result of re-computing a tenant's chain. */
export interface VerifyResult {
  ok: boolean;
  /** entries checked (up to and including the first broken one) */
  checked: number;
  /** seq of the first entry that does not fit (missing, altered, or mislinked) */
  brokenAt?: number;
}

const VERIFY_BATCH = 1000;

/** The hashed fields of a stored row, in the form the hash was computed over. */
export function rowFields(r: EntryRow): HashedFields {
  return {
    seq: Number(r.seq),
    tenantId: r.tenant_id,
    type: r.type,
    actorId: r.actor_id,
    subjectId: r.subject_id,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
    data: r.data,
    occurredAt: (r.occurred_at instanceof Date ? r.occurred_at : new Date(r.occurred_at)).toISOString(),
    eventId: r.event_id,
  };
}

/** Creates the chain service over the audit database. */
export function createChainService(deps: { db: Database }) {
  const { db } = deps;

  /**
   * Appends inside the caller's tenant transaction (from `db.withTenant`): takes the
   * tenant's append lock, reads the head, inserts the next link. Returns undefined when
   * the event id is already in the log; the caller's transaction then changes nothing.
   */
  async function appendInTx(trx: Tx, tenantId: string, input: AppendInput): Promise<AuditEntry | undefined> {
    await lockTenantChain(trx, tenantId);
    const head = await chainHead(trx, tenantId);
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? GENESIS_HASH;
    // Millisecond ISO form: what timestamptz gives back, so the hash re-computes exactly.
    const occurredAt = new Date(input.occurredAt.getTime()).toISOString();
    const fields: HashedFields = {
      seq,
      tenantId,
      type: input.type,
      actorId: input.actorId,
      subjectId: input.subjectId,
      ip: input.ip,
      userAgent: input.userAgent,
      requestId: input.requestId,
      data: input.data,
      occurredAt,
      eventId: input.eventId,
    };
    const row = await insertEntry(trx, {
      id: randomUUID(),
      tenant_id: tenantId,
      seq,
      event_id: input.eventId,
      type: input.type,
      actor_id: input.actorId,
      subject_id: input.subjectId,
      ip: input.ip,
      user_agent: input.userAgent,
      request_id: input.requestId,
      data: input.data,
      occurred_at: occurredAt,
      prev_hash: prevHash,
      hash: entryHash(prevHash, fields),
    });
    return row ? toEntry(row) : undefined;
  }

  return {
    appendInTx,

    /**
     * Appends one entry in its own tenant transaction; `after` runs in the same transaction
     * only when the entry is new (the social log enqueues its outbox event there).
     * Returns null for a duplicate event id.
     */
    async append(tenantId: string, input: AppendInput, after?: (trx: Tx, entry: AuditEntry) => Promise<void>): Promise<AuditEntry | null> {
      return db.withTenant(tenantId, async (trx) => {
        const entry = await appendInTx(trx, tenantId, input);
        if (!entry) return null;
        if (after) await after(trx, entry);
        return entry;
      });
    },

    /**
     * Re-computes the tenant's chain from seq 1: every seq present and in order, every
     * prevHash the previous hash, every hash the hash of its own fields.
     */
    async verify(tenantId: string): Promise<VerifyResult> {
      let expectedSeq = 1;
      let prevHash = GENESIS_HASH;
      let checked = 0;
      for (;;) {
        const rows = await db.withTenant(tenantId, (trx) => chainPage(trx, tenantId, expectedSeq - 1, VERIFY_BATCH));
        for (const r of rows) {
          checked += 1;
          const seq = Number(r.seq);
          if (seq !== expectedSeq) return { ok: false, checked, brokenAt: expectedSeq };
          if (r.prev_hash !== prevHash || entryHash(prevHash, rowFields(r)) !== r.hash) {
            return { ok: false, checked, brokenAt: seq };
          }
          prevHash = r.hash;
          expectedSeq += 1;
        }
        if (rows.length < VERIFY_BATCH) return { ok: true, checked };
      }
    },
  };
}
export type ChainService = ReturnType<typeof createChainService>;
