/**
 * The durable consumer that feeds every Gatehouse event into the audit log: JetStream
 * durable `audit-ingest` in production (shared by replicas, acknowledged only after the
 * handler's commit), the in-process transport when embedded.
 */
import type { Logger } from 'pino';
import { EVENT_SUBJECTS, type EventTransport, type Subscription } from '@gatehouse/platform/events';
import type { IngestService } from './ingest.service';

/** Durable consumer name shared by every audit replica. */
export const AUDIT_DURABLE = 'audit-ingest';

/** Every subject family Gatehouse publishes. */
export const AUDIT_SUBJECTS = [...EVENT_SUBJECTS];

/** Creates the consumer; `start` keeps retrying in the background until the subscription exists. */
export function createIngestConsumer(deps: { transport: EventTransport; ingest: IngestService; logger: Logger; retryMs?: number }) {
  const { transport, ingest, logger } = deps;
  const retryMs = deps.retryMs ?? 2000;
  let sub: Subscription | undefined;
  let stopped = false;
  let starting: Promise<void> | undefined;
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function attempt(): Promise<void> {
    try {
      const s = await transport.subscribe({
        durable: AUDIT_DURABLE,
        subjects: AUDIT_SUBJECTS,
        // Many events in flight: the chain batches concurrent appends of a tenant into one
        // commit, so throughput is not one fsync per event. Order of `seq` is commit order;
        // each entry keeps its event's own time.
        concurrency: 32,
        // Resolving acknowledges; throwing makes the transport redeliver with backoff.
        handler: async (event) => {
          await ingest.handle(event);
        },
        // Unreadable messages go to the dead-letter table too, not just the transport's log.
        onInvalid: async (message) => {
          await ingest.parkInvalid(message);
        },
      });
      if (stopped) {
        await s.stop();
        return;
      }
      sub = s;
      lastError = undefined;
      logger.info({ durable: AUDIT_DURABLE }, 'audit consumer started');
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      logger.warn({ err }, 'audit consumer could not subscribe; retrying');
      if (!stopped) {
        timer = setTimeout(() => {
          starting = attempt();
        }, retryMs);
        timer.unref();
      }
    }
  }

  return {
    /** Subscribes (first attempt awaited; later ones in the background). */
    async start(): Promise<void> {
      stopped = false;
      starting = attempt();
      await starting;
    },
    /** Throws unless the subscription is active (readiness). */
    check(): void {
      if (!sub) throw new Error(lastError ? `consumer not subscribed: ${lastError}` : 'consumer not subscribed');
    },
    /** Events of the stream not yet delivered to the consumer (0: caught up); throws unless subscribed. */
    async pending(): Promise<number> {
      if (!sub) throw new Error('consumer not subscribed');
      return sub.pending();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await starting;
      await sub?.stop();
      sub = undefined;
    },
  };
}
export type IngestConsumer = ReturnType<typeof createIngestConsumer>;
