/** The in-process event transport (embedded mode). */
import type { Logger } from 'pino';
import { subjectMatches, type CloudEvent } from './envelope';
import { DURABLE_RE, redeliveryDelay, type EventTransport } from './transport';

interface MemoryDurable {
  patterns: string[];
  handler: ((event: CloudEvent) => Promise<void>) | undefined;
  /** next log sequence to deliver */
  next: number;
  pumping: boolean;
  /** handlers running at once (1: in order) */
  concurrency: number;
  /** failed deliveries waiting for their retry, kept across stop/subscribe like unacked messages */
  retries: Map<string, { event: CloudEvent; attempt: number; timer?: NodeJS.Timeout }>;
  /** handler calls under way, awaited by stop() */
  inflight: Set<Promise<void>>;
}

/**
 * In-process transport for the embedded mode, with JetStream's semantics: events are kept in
 * a bounded log, a new durable receives everything retained, a durable that stops and
 * subscribes again resumes where it was, a throwing handler gets the event again with
 * backoff, and an event id seen within 2 minutes is delivered once.
 */
export function createMemoryTransport(opts: {
  logger: Logger;
  /** events kept for durables that subscribe later (default 10000) */
  maxRetained?: number;
  /** first redelivery delay after a handler throws (default 100 ms, cap 5 s) */
  retryBaseMs?: number;
}): EventTransport {
  const { logger } = opts;
  const maxRetained = opts.maxRetained ?? 10_000;
  const retryBaseMs = opts.retryBaseMs ?? 100;
  const log: CloudEvent[] = [];
  let firstSeq = 0; // sequence number of log[0]
  const durables = new Map<string, MemoryDurable>();
  const seen = new Map<string, number>(); // event id -> time first published
  let closed = false;

  function deliver(d: MemoryDurable, event: CloudEvent, attempt: number): Promise<void> {
    const handler = d.handler;
    if (!handler) {
      d.retries.set(event.id, { event, attempt });
      return Promise.resolve();
    }
    const succeeded = () => {
      d.retries.delete(event.id);
    };
    const failed = (err: unknown) => {
      const delay = redeliveryDelay(attempt, retryBaseMs, 5000);
      logger.warn({ err, id: event.id, type: event.type, attempt, delay }, 'event handler failed; will redeliver');
      const entry: { event: CloudEvent; attempt: number; timer?: NodeJS.Timeout } = { event, attempt: attempt + 1 };
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (d.handler && d.retries.get(event.id) === entry) void deliver(d, event, entry.attempt);
      }, delay);
      entry.timer.unref();
      d.retries.set(event.id, entry);
    };
    // Through a promise, so a handler that throws synchronously is retried like any other.
    const run = Promise.resolve()
      .then(() => handler(event))
      .then(succeeded, failed);
    d.inflight.add(run);
    return run.finally(() => d.inflight.delete(run));
  }

  async function pump(d: MemoryDurable): Promise<void> {
    if (d.pumping) return;
    d.pumping = true;
    try {
      while (d.handler && d.next < firstSeq + log.length) {
        if (d.next < firstSeq) {
          logger.warn({ skipped: firstSeq - d.next }, 'memory transport dropped events a durable had not received');
          d.next = firstSeq;
        }
        const event = log[d.next - firstSeq]!;
        d.next += 1;
        // In order and one at a time, like a JetStream consumer handled sequentially.
        if (!d.patterns.some((p) => subjectMatches(p, event.type))) continue;
        if (d.concurrency <= 1) await deliver(d, event, 1);
        else {
          void deliver(d, event, 1);
          while (d.inflight.size >= d.concurrency) await Promise.race(d.inflight);
        }
      }
    } finally {
      d.pumping = false;
    }
  }

  return {
    kind: 'memory',

    async publish(event) {
      if (closed) throw new Error('event transport is closed');
      const now = Date.now();
      for (const [id, at] of seen) {
        if (now - at < 120_000) break; // insertion order = time order
        seen.delete(id);
      }
      if (seen.has(event.id)) return;
      seen.set(event.id, now);
      log.push(event);
      if (log.length > maxRetained) {
        log.shift();
        firstSeq += 1;
      }
      for (const d of durables.values()) {
        if (d.handler) setImmediate(() => void pump(d));
      }
    },

    async subscribe({ durable, subjects, handler, fromNow, concurrency = 1 }) {
      if (closed) throw new Error('event transport is closed');
      if (!DURABLE_RE.test(durable)) throw new Error(`invalid durable name: ${durable}`);
      let d = durables.get(durable);
      if (d?.handler) throw new Error(`durable ${durable} already has a subscriber in this process`);
      if (!d) {
        d = { patterns: subjects, handler: undefined, next: fromNow ? firstSeq + log.length : firstSeq, pumping: false, concurrency, retries: new Map(), inflight: new Set() };
        durables.set(durable, d);
      }
      const state = d;
      state.patterns = subjects;
      state.handler = handler;
      state.concurrency = concurrency;
      for (const r of state.retries.values()) {
        if (!r.timer) void deliver(state, r.event, r.attempt);
      }
      setImmediate(() => void pump(state));
      return {
        async pending() {
          let n = 0;
          for (let seq = Math.max(state.next, firstSeq); seq < firstSeq + log.length; seq++) {
            if (state.patterns.some((p) => subjectMatches(p, log[seq - firstSeq]!.type))) n += 1;
          }
          return n;
        },
        async stop() {
          if (state.handler !== handler) return;
          state.handler = undefined;
          for (const r of state.retries.values()) {
            if (r.timer) clearTimeout(r.timer);
            r.timer = undefined;
          }
          // Like the NATS transport: a handler that is running finishes first.
          await Promise.allSettled([...state.inflight]);
        },
      };
    },

    async ping() {
      if (closed) throw new Error('event transport is closed');
    },

    async close() {
      closed = true;
      for (const d of durables.values()) {
        d.handler = undefined;
        for (const r of d.retries.values()) if (r.timer) clearTimeout(r.timer);
      }
      await Promise.allSettled([...durables.values()].flatMap((d) => [...d.inflight]));
    },
  };
}
