/**
 * The per-tenant hash chain: appends (serialised per tenant, idempotent on the event id)
 * and verification. Every entry, ingested or recorded through the social log, goes through
 * {@link createChainService}'s `append`.
 */
import { randomUUID } from 'node:crypto';
import type { Emit } from '@gatehouse/platform/db';
import type { Database, Tx } from '../../db/schema';
import { GENESIS_HASH, entryHash, type HashedFields } from './chain.hash';
import { chainHead, chainPage, insertEntries, insertEntry, lockAndReadHead, lockTenantChain, toEntry, type NewEntry } from './chain.queries';
import type { AuditEntry } from './chain.schemas';

/** What an entry records, already sanitised (see chain.sanitize.ts); the chain adds its place (seq, tenant). */
export type AppendInput = Omit<HashedFields, 'seq' | 'tenantId' | 'occurredAt'> & { occurredAt: Date };

/** Result of re-computing a tenant's chain. */
export interface VerifyResult {
  ok: boolean;
  /** entries checked (up to and including the first broken one) */
  checked: number;
  /** seq of the first entry that does not fit (missing, altered, or mislinked) */
  brokenAt?: number;
}

const VERIFY_BATCH = 1000;

/** One append waiting for its tenant's next batch. */
interface Pending {
  input: AppendInput;
  after?: (trx: Tx, emit: Emit, entry: AuditEntry) => Promise<void>;
  resolve(entry: AuditEntry | null): void;
  reject(err: unknown): void;
}

/** Most appends committed in one transaction. */
const MAX_BATCH = 200;

/** Creates the chain service over the audit database. */
export function createChainService(deps: { db: Database }) {
  const { db } = deps;
  // Appends waiting per tenant. One batch per tenant is in flight at a time in this process,
  // so concurrent appends for one tenant hold one pooled connection (not one each, all
  // waiting on the same lock) and share one commit.
  const queues = new Map<string, Pending[]>();

  /** The entry that links `input` after `head` (seq, prevHash and hash). */
  function nextEntry(tenantId: string, head: { seq: number; hash: string } | undefined, input: AppendInput): NewEntry {
    const seq = (head?.seq ?? 0) + 1;
    const prevHash = head?.hash ?? GENESIS_HASH;
    // Millisecond ISO form: what timestamptz gives back, so the hash re-computes exactly.
    const occurredAt = new Date(input.occurredAt.getTime()).toISOString();
    const fields: HashedFields = { ...input, seq, tenantId, occurredAt };
    return { ...fields, id: randomUUID(), prevHash, hash: entryHash(prevHash, fields) };
  }

  /** Appends `items` in order inside the caller's tenant transaction, one statement each; null for each duplicate. */
  async function appendInOpenTx(trx: Tx, emit: Emit, tenantId: string, items: Array<Pick<Pending, 'input' | 'after'>>): Promise<Array<AuditEntry | null>> {
    await lockTenantChain(trx, tenantId);
    let head = await chainHead(trx, tenantId);
    const out: Array<AuditEntry | null> = [];
    for (const item of items) {
      const row = await insertEntry(trx, nextEntry(tenantId, head, item.input));
      const entry = row ? toEntry(row) : null;
      if (entry) {
        if (item.after) await item.after(trx, emit, entry);
        head = { seq: entry.seq, hash: entry.hash };
      }
      out.push(entry);
    }
    return out;
  }

  /**
   * Appends `items` in order in a tenant transaction of their own, in three round trips
   * whatever their number: the append lock and the head read ride the transaction's open
   * (`withTenantLed`), every entry goes in one multi-row INSERT, then the commit. The links
   * are computed ahead, so an item whose event id is already in the log (a redelivery) would
   * leave a gap: in a batch of several that fails the batch (rolled back, nothing written) and
   * drain() appends each item on its own, where a duplicate is simply skipped.
   */
  async function appendBatch(tenantId: string, items: Array<Pick<Pending, 'input' | 'after'>>): Promise<Array<AuditEntry | null>> {
    return db.withTenantLed(tenantId, lockAndReadHead(tenantId), async (trx, emit, rows) => {
      const top = rows[0];
      let head = top ? { seq: Number(top.seq), hash: top.hash } : undefined;
      const entries = items.map((item) => {
        const e = nextEntry(tenantId, head, item.input);
        head = { seq: e.seq, hash: e.hash };
        return e;
      });
      const inserted = new Map((await insertEntries(trx, entries)).map((r) => [r.event_id, toEntry(r)]));
      if (inserted.size < entries.length) {
        if (entries.length === 1) return [null];
        throw new Error('an event of the batch is already in the log: appending one by one');
      }
      const out: AuditEntry[] = [];
      for (const [i, e] of entries.entries()) {
        const entry = inserted.get(e.eventId);
        if (!entry) throw new Error(`entry for event ${e.eventId} missing from the insert's rows`);
        const after = items[i]!.after;
        if (after) await after(trx, emit, entry);
        out.push(entry);
      }
      return out;
    });
  }

  async function drain(tenantId: string, queue: Pending[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH);
      try {
        const results = await appendBatch(tenantId, batch);
        batch.forEach((p, i) => p.resolve(results[i] ?? null));
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        // One bad item must not fail the others: retry each in its own transaction.
        for (const p of batch) {
          try {
            const [entry] = await appendBatch(tenantId, [p]);
            p.resolve(entry ?? null);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
    queues.delete(tenantId);
  }

  return {
    /**
     * Appends inside the caller's tenant transaction (from `db.withTenant`): takes the
     * tenant's append lock, reads the head, inserts the next link. Returns undefined when
     * the event id is already in the log.
     */
    async appendInTx(trx: Tx, emit: Emit, tenantId: string, input: AppendInput): Promise<AuditEntry | undefined> {
      const [entry] = await appendInOpenTx(trx, emit, tenantId, [{ input }]);
      return entry ?? undefined;
    },

    /**
     * Appends one entry and resolves once it is committed; `after` runs in the same
     * transaction only when the entry is new (the social log enqueues its outbox event
     * there). Resolves null for a duplicate event id. Concurrent appends for one tenant are
     * committed together, in call order.
     */
    append(tenantId: string, input: AppendInput, after?: (trx: Tx, emit: Emit, entry: AuditEntry) => Promise<void>): Promise<AuditEntry | null> {
      return new Promise((resolve, reject) => {
        const pending: Pending = { input, after, resolve, reject };
        const queue = queues.get(tenantId);
        if (queue) {
          queue.push(pending);
          return;
        }
        const fresh = [pending];
        queues.set(tenantId, fresh);
        void drain(tenantId, fresh);
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
        const rows = await db.withTenantRead(tenantId, (trx) => chainPage(trx, tenantId, expectedSeq - 1, VERIFY_BATCH));
        for (const r of rows) {
          checked += 1;
          const seq = Number(r.seq);
          if (seq !== expectedSeq) return { ok: false, checked, brokenAt: expectedSeq };
          if (r.prev_hash !== prevHash || entryHash(prevHash, toEntry(r)) !== r.hash) {
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
