/** The NATS JetStream event transport (production). */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { compare, connect, headers, nanos, parseSemVer } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { EVENT_SUBJECTS, isCloudEvent, subjectMatches } from './envelope';
import { DURABLE_RE, redeliveryDelay, type EventTransport, type Subscription } from './transport';

/** Options for {@link createNatsTransport}. */
export interface NatsTransportOptions {
  url: string;
  logger: Logger;
  /** Stream name (default `GATEHOUSE`). */
  stream?: string;
  /**
   * Prepended (with a dot) to every NATS subject, so several deployments or test runs can
   * share one NATS server without their streams overlapping. Events keep their plain type.
   */
  subjectPrefix?: string;
  /** How long the stream keeps events (default 7 days when the stream is created; an existing stream's age is changed only when this is set). */
  maxAgeMs?: number;
  /** Client name shown in NATS monitoring. */
  name?: string;
  /** First redelivery delay after a handler throws, doubled per attempt (default 1000 ms, cap 60 s). */
  retryBaseMs?: number;
}

/**
 * Connect to NATS, create or update the event stream, and return the JetStream transport.
 * The connection reconnects forever; publishing fails while it is down (the outbox relay
 * retries) and subscriptions resume when it is back.
 */
export async function createNatsTransport(opts: NatsTransportOptions): Promise<EventTransport> {
  const { logger } = opts;
  const stream = opts.stream ?? 'GATEHOUSE';
  const prefix = opts.subjectPrefix ? `${opts.subjectPrefix}.` : '';
  const retryBaseMs = opts.retryBaseMs ?? 1000;
  const nc = await connect({
    servers: opts.url,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    // Notice a dead server within ~30 s even when nothing is being published.
    pingInterval: 10_000,
    maxPingOut: 3,
    // No stack captured ahead of every request (a JetStream publish made two Errors, a
    // RequestError and a TimeoutError, in case it would fail): 17-27% less CPU per publish
    // (145 -> 120 and 171 -> 124 µs in two runs of bench/src/nats-publish.ts; issue 13). A timeout
    // is still a TimeoutError; its stack ends in the client instead of reaching the caller,
    // and our own log lines name the event and the consumer.
    noAsyncTraces: true,
  });
  const jsm = await jetstreamManager(nc);
  const js = jsm.jetstream();
  let connected = true;
  const subs = new Set<Subscription>();
  // Publishes awaiting their ack. A disconnect fails them at once instead of after the
  // 5 s ack timeout, so the relay releases its row locks and backs off. If the buffered
  // message still reaches the stream after the reconnect, the retry is deduplicated by id.
  const inFlight = new Set<(err: Error) => void>();

  // filter_subjects (several per consumer) needs NATS 2.10; older servers get one
  // unfiltered consumer and the filtering happens here.
  const serverVersion = nc.info?.version ?? '0.0.0';
  const multiFilter = compare(parseSemVer(serverVersion), parseSemVer('2.10.0')) >= 0;

  async function ensureStream(): Promise<void> {
    const wanted = EVENT_SUBJECTS.map((s) => prefix + s);
    const duplicateWindow = nanos(2 * 60_000);
    const maxAge = nanos(opts.maxAgeMs ?? 7 * 24 * 3600_000);
    try {
      const info = await jsm.streams.info(stream);
      // Add what is missing, never remove: operators may have widened the stream. The
      // retention age is only changed when it was configured explicitly.
      const subjects = [...new Set([...(info.config.subjects ?? []), ...wanted])];
      const ageChanged = opts.maxAgeMs !== undefined && info.config.max_age !== maxAge;
      if (
        subjects.length !== (info.config.subjects ?? []).length ||
        info.config.duplicate_window !== duplicateWindow ||
        ageChanged
      ) {
        await jsm.streams.update(stream, {
          subjects,
          duplicate_window: duplicateWindow,
          ...(ageChanged ? { max_age: maxAge } : {}),
        });
        logger.info({ stream }, 'event stream updated');
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await jsm.streams.add({
        name: stream,
        subjects: wanted,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        duplicate_window: duplicateWindow,
        max_age: maxAge,
      });
      logger.info({ stream }, 'event stream created');
    }
  }

  try {
    await ensureStream();
  } catch (err) {
    await nc.close();
    throw err;
  }

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected = false;
        logger.warn({ server: s.server }, 'NATS disconnected');
        for (const fail of inFlight) fail(new Error('NATS is disconnected'));
      } else if (s.type === 'reconnect') {
        connected = true;
        logger.info({ server: s.server }, 'NATS reconnected');
        // A server restarted without its store has lost the stream: recreate it.
        ensureStream().catch((err: unknown) => logger.error({ err }, 'event stream check failed'));
      }
    }
  })();

  async function ensureConsumer(durable: string, filters: string[], extra: { fromNow?: boolean; inactiveMs?: number } = {}): Promise<void> {
    const filter: Partial<ConsumerConfig> =
      filters.length === 1 ? { filter_subject: filters[0] } : multiFilter ? { filter_subjects: filters } : {};
    try {
      const info = await jsm.consumers.info(stream, durable);
      const same =
        (info.config.filter_subject ?? '') === (filter.filter_subject ?? '') &&
        JSON.stringify(info.config.filter_subjects ?? []) === JSON.stringify(filter.filter_subjects ?? []);
      if (!same) {
        await jsm.consumers.update(stream, durable, {
          filter_subject: filter.filter_subject ?? '',
          ...(multiFilter ? { filter_subjects: filter.filter_subjects ?? [] } : {}),
        });
        logger.info({ durable }, 'event consumer filter updated');
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        // A new consumer starts from the beginning of the stream: a service added later (or
        // whose consumer was lost) catches up; consumeOnce makes replays harmless.
        deliver_policy: extra.fromNow ? DeliverPolicy.New : DeliverPolicy.All,
        ...(extra.inactiveMs ? { inactive_threshold: nanos(extra.inactiveMs) } : {}),
        ack_wait: nanos(60_000),
        max_deliver: -1,
        ...filter,
      });
      logger.info({ durable, stream }, 'event consumer created');
    }
  }

  return {
    kind: 'nats',

    async publish(event) {
      // While disconnected the client would buffer the message and report nothing; failing
      // here keeps the outbox row pending until the relay can publish it for real.
      if (!connected || nc.isClosed()) throw new Error('NATS is disconnected');
      const h = headers();
      h.set('Content-Type', 'application/cloudevents+json');
      let fail!: (err: Error) => void;
      const disconnected = new Promise<never>((_, reject) => (fail = reject));
      inFlight.add(fail);
      try {
        const ack = await Promise.race([
          js.publish(prefix + event.type, JSON.stringify(event), { msgID: event.id, headers: h, timeout: 5000 }),
          disconnected,
        ]);
        if (ack.duplicate) logger.debug({ id: event.id }, 'event already in stream (deduplicated)');
      } finally {
        inFlight.delete(fail);
      }
    },

    async subscribe({ durable, subjects, handler, onInvalid, fromNow, inactiveMs, concurrency = 1 }) {
      if (!DURABLE_RE.test(durable)) throw new Error(`invalid durable name: ${durable}`);
      if (subjects.length === 0) throw new Error('subscribe needs at least one subject');
      const filters = subjects.map((s) => prefix + s);
      const clientFilter = filters.length > 1 && !multiFilter;
      await ensureConsumer(durable, filters, { fromNow, inactiveMs });
      const consumer = await js.consumers.get(stream, durable);

      let stopped = false;
      let messages: ConsumerMessages | undefined;
      const pause = new AbortController();

      async function handle(m: JsMsg): Promise<void> {
        if (clientFilter && !filters.some((f) => subjectMatches(f, m.subject))) {
          m.ack();
          return;
        }
        let event: unknown;
        try {
          event = m.json();
        } catch {
          event = undefined;
        }
        if (!isCloudEvent(event)) {
          if (onInvalid) {
            try {
              await onInvalid({
                subject: m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : m.subject,
                data: m.string().slice(0, 65536),
                reason: event === undefined ? 'not JSON' : 'not a CloudEvent',
              });
            } catch (err) {
              const delay = redeliveryDelay(m.info.deliveryCount, retryBaseMs, 60_000);
              logger.warn({ err, durable, subject: m.subject, seq: m.seq, delay }, 'invalid-message handler failed; will redeliver');
              m.nak(delay);
              return;
            }
          }
          // Redelivering a malformed message can never succeed.
          logger.error({ durable, subject: m.subject, seq: m.seq }, 'dropping a message that is not a CloudEvent');
          m.term('not a CloudEvent');
          return;
        }
        try {
          await handler(event);
          m.ack();
        } catch (err) {
          const attempt = m.info.deliveryCount;
          const delay = redeliveryDelay(attempt, retryBaseMs, 60_000);
          logger.warn({ err, durable, id: event.id, type: event.type, attempt, delay }, 'event handler failed; will redeliver');
          m.nak(delay);
        }
      }

      const loop = (async () => {
        while (!stopped) {
          try {
            // Few messages in flight: each must be handled within ack_wait.
            messages = await consumer.consume({ max_messages: Math.max(16, concurrency * 2) });
            // Up to `concurrency` handlers at once; each message is still acked only after its own handler.
            const inflight = new Set<Promise<void>>();
            for await (const m of messages) {
              const p: Promise<void> = handle(m).finally(() => inflight.delete(p));
              inflight.add(p);
              if (inflight.size >= concurrency) await Promise.race(inflight);
              if (stopped) break;
            }
            await Promise.all(inflight);
          } catch (err) {
            if (!stopped) logger.warn({ err, durable }, 'event consumer interrupted; resuming');
          }
          if (stopped) break;
          await sleep(1000, undefined, { signal: pause.signal }).catch(() => undefined);
          if (stopped) break;
          await ensureConsumer(durable, filters, { fromNow, inactiveMs }).catch((err: unknown) =>
            logger.warn({ err, durable }, 'event consumer check failed'),
          );
        }
      })();

      const sub = {
        async pending() {
          return (await jsm.consumers.info(stream, durable)).num_pending;
        },
        async stop() {
          if (stopped) return;
          stopped = true;
          pause.abort();
          subs.delete(sub);
          // Unacked, prefetched messages are redelivered after ack_wait to another replica.
          await messages?.close();
          await loop;
        },
      };
      subs.add(sub);
      return sub;
    },

    async ping() {
      if (!connected || nc.isClosed()) throw new Error('NATS is disconnected');
      await jsm.getAccountInfo();
    },

    async close() {
      await Promise.all([...subs].map((s) => s.stop()));
      if (!nc.isClosed()) await nc.close();
    },
  };
}
