/**
 * Ingestion: one CloudEvent in, one audit entry (or a dead letter) out. Idempotent on the
 * event id; resolves only once the entry (or dead letter) is committed, so the transport
 * acknowledges only then; throws on transient failures so the transport redelivers.
 */
import type { Logger } from 'pino';
import type { Database } from '../../db/schema';
import type { InvalidMessage } from '@gatehouse/platform/events';
import { REDACTED, cleanString, cleanText, isSecretKey, sanitizeData } from '../chain/chain.sanitize';
import type { ChainService } from '../chain/chain.service';
import { mapEvent } from './ingest.mapping';
import type { IngestMetrics } from './ingest.metrics';
import { UNATTRIBUTED_TENANT, insertDeadLetter, type DeadLetter } from './ingest.queries';

/** What became of one message. */
export type IngestOutcome = 'ingested' | 'duplicate' | 'dead_letter';

const MAX_PAYLOAD_CHARS = 64 * 1024;

// SQLSTATE classes that no retry can fix: 22 data exception (a value the column refuses),
// 54 program limit exceeded (e.g. a row too large to index).
function isPermanentDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function field(raw: unknown, key: string): unknown {
  return raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
}

/** Creates the ingestion service. */
export function createIngestService(deps: { db: Database; chain: ChainService; metrics: IngestMetrics; logger: Logger }) {
  const { db, chain, metrics, logger } = deps;

  /**
   * Files a dead letter under the tenant it claims when that is a UUID, else as unattributed,
   * through `withTenant`: dead letters are under RLS like every table with a tenant_id.
   */
  function park(d: Omit<DeadLetter, 'tenantId'>): Promise<boolean> {
    const tenantId = d.claimedTenant !== null && UUID.test(d.claimedTenant) ? d.claimedTenant.toLowerCase() : UNATTRIBUTED_TENANT;
    return db.withTenant(tenantId, (trx) => insertDeadLetter(trx, { ...d, tenantId }));
  }

  async function deadLetter(raw: unknown, reason: string): Promise<IngestOutcome> {
    let payload: string;
    try {
      // Secret-looking keys go here too: a poison message is no excuse to keep a password.
      payload = JSON.stringify(sanitizeData(raw)) ?? String(raw);
    } catch {
      payload = String(raw);
    }
    const inserted = await park({
      eventId: cleanText(field(raw, 'id'), 200),
      claimedTenant: cleanText(field(raw, 'tenantid'), 200),
      subject: cleanText(field(raw, 'type'), 255),
      reason: cleanString(reason, 1000),
      payload: cleanString(payload, MAX_PAYLOAD_CHARS),
    });
    if (inserted) {
      metrics.deadLetter();
      logger.warn({ eventId: field(raw, 'id'), type: field(raw, 'type'), reason }, 'audit: event parked as a dead letter');
    }
    return 'dead_letter';
  }

  return {
    /**
     * Parks a message the transport could not read as a CloudEvent (not JSON at all, say).
     * Its text cannot be parsed to drop secret keys, so `"key": "value"` pairs whose key
     * looks secret are masked in place.
     */
    async parkInvalid(message: InvalidMessage): Promise<IngestOutcome> {
      let parsed: unknown;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        parsed = undefined;
      }
      if (parsed !== undefined) return deadLetter(parsed, `${message.reason} (subject ${message.subject})`);
      // a value may be cut off by the end of the text: then it runs to the end
      const masked = message.data.replace(/"((?:[^"\\]|\\.){1,100})"(\s*:\s*)"(?:[^"\\]|\\.)*("|$)/g, (pair, key: string, colon: string, end: string) =>
        isSecretKey(key) ? `"${key}"${colon}"${REDACTED}${end}` : pair,
      );
      const inserted = await park({
        eventId: null,
        claimedTenant: null,
        subject: cleanText(message.subject, 255),
        reason: cleanString(`${message.reason} (subject ${message.subject})`, 1000),
        payload: cleanString(masked, MAX_PAYLOAD_CHARS),
      });
      if (inserted) {
        metrics.deadLetter();
        logger.warn({ subject: message.subject, reason: message.reason }, 'audit: unreadable message parked as a dead letter');
      }
      return 'dead_letter';
    },

    /** Ingests one message (a parsed CloudEvent, or anything a transport handed over). */
    async handle(raw: unknown): Promise<IngestOutcome> {
      const mapped = mapEvent(raw);
      if (!mapped.ok) return deadLetter(raw, mapped.reason);
      try {
        const entry = await chain.append(mapped.tenantId, mapped.input);
        if (!entry) {
          metrics.duplicate();
          return 'duplicate';
        }
        metrics.ingested(mapped.input.occurredAt);
        return 'ingested';
      } catch (err) {
        if (isPermanentDbError(err)) {
          return deadLetter(raw, `the database refused the entry: ${err instanceof Error ? err.message : String(err)}`);
        }
        throw err;
      }
    },
  };
}
export type IngestService = ReturnType<typeof createIngestService>;
