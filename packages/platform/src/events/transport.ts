/** What every event transport provides, and what the NATS and memory transports share. */
import type { CloudEvent } from './envelope';

/** A message a transport could not read as a CloudEvent. */
export interface InvalidMessage {
  /** the NATS subject it arrived on (without the deployment's subject prefix) */
  subject: string;
  /** its body as text (at most 64 KiB) */
  data: string;
  reason: string;
}

/** A durable subscription, as {@link EventTransport.subscribe} returns it. */
export interface Subscription {
  /** Stops receiving; a handler that is running finishes first. */
  stop(): Promise<void>;
  /**
   * How many events wait for the durable and were not delivered yet (JetStream's `num_pending`):
   * 0 when it is caught up. Events delivered and not yet acknowledged (being handled, or held
   * by a crashed replica until the ack wait ends) are not counted.
   */
  pending(): Promise<number>;
}

/** Where events go: NATS JetStream in production, in process in the embedded mode. */
export interface EventTransport {
  readonly kind: 'nats' | 'memory';
  /** Publish; the NATS transport sets Nats-Msg-Id = event.id and awaits the JetStream ack. The NATS subject is event.type. */
  publish(event: CloudEvent): Promise<void>;
  /**
   * Durable subscription: a JetStream durable consumer named `durable` (shared by every
   * replica, which then split the work), explicit ack only after the handler resolves,
   * redelivery with backoff when it throws, and everything retained delivered to a new
   * consumer so a service that was down catches up. Handlers must be idempotent
   * (see {@link consumeOnce}).
   */
  subscribe(opts: {
    durable: string;
    subjects: string[];
    handler: (event: CloudEvent) => Promise<void>;
    /**
     * Optional: receives a message that is not a CloudEvent (not JSON, or required attributes
     * missing) before the transport drops it, so the consumer can park it (the audit service's
     * dead-letter table). When it throws, the message is redelivered instead of dropped.
     */
    onInvalid?: (message: InvalidMessage) => Promise<void>;
    /** deliver only events published from now on (caches that only need invalidations) */
    fromNow?: boolean;
    /**
     * NATS: delete the consumer after it has had no subscriber this long. For per-process
     * consumers (a gateway's cache invalidation) so stopped processes leave nothing behind.
     */
    inactiveMs?: number;
    /**
     * Handlers running at once (default 1: strictly in order). Above 1, events are handled
     * out of order — only for consumers that do not depend on order (the audit trail orders
     * by commit and records each event's own time).
     */
    concurrency?: number;
  }): Promise<Subscription>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Redelivery delay after the n-th failed delivery (1-based). */
export function redeliveryDelay(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 20));
}

/** Durable (consumer) names: one NATS token, no dots or wildcards. */
export const DURABLE_RE = /^[A-Za-z0-9_-]+$/;
