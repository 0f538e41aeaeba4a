import { randomUUID } from 'node:crypto';
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
import { sql, type ColumnType, type Generated, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';

/** A CloudEvents 1.0 envelope (structured JSON mode) with the `tenantid` extension. */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  tenantid: string;
  datacontenttype: 'application/json';
  data: T;
}

/**
 * The subject families the event stream carries. An event's `type` is its NATS subject, so
 * `makeEvent` refuses any type outside these: such an event would be rejected by the stream
 * and would block the outbox relay forever.
 */
export const EVENT_SUBJECTS = [
  'user.events.>',
  'auth.events.>',
  'profile.events.>',
  'attendance.events.>',
  'social.events.>',
  'tenant.events.>',
] as const;

// NATS subject tokens: no wildcards, whitespace or empty tokens.
const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Well under NATS' default 1 MiB max_payload, so an oversized event fails at enqueue time
// (inside the caller's transaction) instead of blocking the relay.
const MAX_EVENT_BYTES = 512 * 1024;

/**
 * True when `subject` matches the NATS subject `pattern` (`*` matches one token, `>` one or
 * more trailing tokens).
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === '>') return s.length > i;
    if (i >= s.length) return false;
    if (tok !== '*' && tok !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Build an event with a fresh UUID id and the current time unless given. */
export function makeEvent<T>(e: {
  source: string;
  type: string;
  tenantId: string;
  subject?: string;
  data: T;
  id?: string;
  time?: Date;
}): CloudEvent<T> {
  if (!SUBJECT_RE.test(e.type) || !EVENT_SUBJECTS.some((p) => subjectMatches(p, e.type))) {
    throw new Error(`event type "${e.type}" is not a subject of the event stream`);
  }
  if (!e.source) throw new Error('event source is required');
  if (!e.tenantId) throw new Error('event tenantId is required');
  const event: CloudEvent<T> = {
    specversion: '1.0',
    id: e.id ?? randomUUID(),
    source: e.source,
    type: e.type,
    time: (e.time ?? new Date()).toISOString(),
    tenantid: e.tenantId,
    datacontenttype: 'application/json',
    data: e.data,
  };
  if (e.subject !== undefined) event.subject = e.subject;
  return event;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Validates the required CloudEvents attributes (and our `tenantid` extension). */
export function isCloudEvent(x: unknown): x is CloudEvent {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const e = x as Record<string, unknown>;
  return (
    e.specversion === '1.0' &&
    nonEmpty(e.id) &&
    nonEmpty(e.source) &&
    nonEmpty(e.type) &&
    nonEmpty(e.tenantid) &&
    nonEmpty(e.time) &&
    !Number.isNaN(Date.parse(e.time)) &&
    e.datacontenttype === 'application/json' &&
    'data' in e &&
    (e.subject === undefined || typeof e.subject === 'string')
  );
}

/** The outbox and inbox tables as the migrations create them (in each service's schema). */
interface OutboxTables {
  outbox: {
    id: string;
    subject: string;
    payload: ColumnType<unknown, string, never>;
    created_at: ColumnType<Date, never, never>;
    published_at: Date | null;
    attempts: Generated<number>;
    last_error: string | null;
  };
  inbox: {
    consumer: string;
    event_id: string;
    processed_at: Generated<Date>;
  };
}

/**
 * The functions below accept any service's database (`Kysely<DB>`, a transaction included)
 * and reach only the outbox and inbox tables, which every service database has.
 */
const tables = <DB>(db: Kysely<DB> | Transaction<DB>) => db as unknown as Kysely<OutboxTables>;

/**
 * Insert events into `<schema>.outbox` inside the caller's transaction, so they commit (or
 * roll back) together with the state change they describe. Call the relay's `nudge()` after
 * the commit to publish them at once.
 */
export async function enqueueEvents<DB>(db: Kysely<DB> | Transaction<DB>, schema: string, events: CloudEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event, i) => {
    if (!isCloudEvent(event)) throw new Error('not a valid CloudEvent');
    if (!UUID_RE.test(event.id)) throw new Error(`event id must be a UUID: ${event.id}`);
    if (!SUBJECT_RE.test(event.type)) throw new Error(`event type is not a NATS subject: ${event.type}`);
    const payload = JSON.stringify(event);
    if (Buffer.byteLength(payload) > MAX_EVENT_BYTES) throw new Error(`event ${event.type} is too large`);
    return {
      id: event.id,
      subject: event.type,
      payload,
      // All rows of one transaction share now(); a microsecond apart keeps their order in
      // the relay, which publishes by created_at.
      created_at: sql<Date>`now() + ${i}::int * interval '1 microsecond'`,
    };
  });
  await tables(db).withSchema(schema).insertInto('outbox').values(rows).execute();
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
  }): Promise<{ stop(): Promise<void> }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Redelivery delay after the n-th failed delivery (1-based). */
function redeliveryDelay(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 20));
}

const DURABLE_RE = /^[A-Za-z0-9_-]+$/;

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
  });
  const jsm = await jetstreamManager(nc);
  const js = jsm.jetstream();
  let connected = true;
  const subs = new Set<{ stop(): Promise<void> }>();
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

  async function ensureConsumer(durable: string, filters: string[]): Promise<void> {
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
        deliver_policy: DeliverPolicy.All,
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

    async subscribe({ durable, subjects, handler }) {
      if (!DURABLE_RE.test(durable)) throw new Error(`invalid durable name: ${durable}`);
      if (subjects.length === 0) throw new Error('subscribe needs at least one subject');
      const filters = subjects.map((s) => prefix + s);
      const clientFilter = filters.length > 1 && !multiFilter;
      await ensureConsumer(durable, filters);
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
            messages = await consumer.consume({ max_messages: 16 });
            for await (const m of messages) {
              await handle(m);
              if (stopped) break;
            }
          } catch (err) {
            if (!stopped) logger.warn({ err, durable }, 'event consumer interrupted; resuming');
          }
          if (stopped) break;
          await sleep(1000, undefined, { signal: pause.signal }).catch(() => undefined);
          if (stopped) break;
          await ensureConsumer(durable, filters).catch((err: unknown) =>
            logger.warn({ err, durable }, 'event consumer check failed'),
          );
        }
      })();

      const sub = {
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

interface MemoryDurable {
  patterns: string[];
  handler: ((event: CloudEvent) => Promise<void>) | undefined;
  /** next log sequence to deliver */
  next: number;
  pumping: boolean;
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
        if (d.patterns.some((p) => subjectMatches(p, event.type))) await deliver(d, event, 1);
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

    async subscribe({ durable, subjects, handler }) {
      if (closed) throw new Error('event transport is closed');
      if (!DURABLE_RE.test(durable)) throw new Error(`invalid durable name: ${durable}`);
      let d = durables.get(durable);
      if (d?.handler) throw new Error(`durable ${durable} already has a subscriber in this process`);
      if (!d) {
        d = { patterns: subjects, handler: undefined, next: firstSeq, pumping: false, retries: new Map(), inflight: new Set() };
        durables.set(durable, d);
      }
      const state = d;
      state.patterns = subjects;
      state.handler = handler;
      for (const r of state.retries.values()) {
        if (!r.timer) void deliver(state, r.event, r.attempt);
      }
      setImmediate(() => void pump(state));
      return {
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

/** Options for {@link createOutboxRelay}. */
export interface OutboxRelayOptions<DB = unknown> {
  db: Kysely<DB>;
  schema: string;
  transport: EventTransport;
  logger: Logger;
  /** idle poll interval (default 1000 ms); `nudge()` cuts it short */
  pollMs?: number;
  /** rows per transaction (default 100) */
  batchSize?: number;
  /** called with the number of events published by each pass that published any */
  onPublished?: (n: number) => void;
  /** how long `stop()` keeps trying to publish what is pending (default 10000 ms) */
  flushTimeoutMs?: number;
}

/**
 * Publish committed outbox rows. Each pass locks a batch of pending rows with
 * `FOR UPDATE SKIP LOCKED` (so replicas share the work without publishing a row twice at
 * once), publishes them in order and marks them published in the same transaction. On a
 * failure the row records the attempt and error and the relay backs off (doubling, up to
 * 5 s); nothing is dropped. A row published but not marked (crash before commit) is published
 * again and deduplicated by Nats-Msg-Id and by the consumers' inbox.
 */
export function createOutboxRelay<DB>(opts: OutboxRelayOptions<DB>): {
  start(): void;
  nudge(): void;
  /** publish everything pending, then stop */
  stop(): Promise<void>;
  pending(): Promise<number>;
} {
  const { schema, transport, logger } = opts;
  const db = tables(opts.db);
  const pollMs = opts.pollMs ?? 1000;
  const batchSize = opts.batchSize ?? 100;
  const flushTimeoutMs = opts.flushTimeoutMs ?? 10_000;

  let running = false;
  let loopDone: Promise<void> | undefined;
  let nudged = false;
  /** ends the current wait; undefined when not waiting */
  let endWait: (() => void) | undefined;
  let waitInterruptible = false;
  let failures = 0;

  const backoff = (n: number) => Math.min(5000, 100 * 2 ** Math.min(n, 10));

  /** One transaction: publish up to batchSize pending rows. */
  async function pass(): Promise<{ selected: number; published: number; failed: boolean }> {
    const result = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .withSchema(schema)
        .selectFrom('outbox')
        .select(['id', 'payload'])
        .where('published_at', 'is', null)
        .orderBy('created_at')
        .limit(batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      const done: string[] = [];
      let failed = false;
      for (const row of rows) {
        try {
          const event: unknown = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
          if (!isCloudEvent(event)) throw new Error('outbox payload is not a CloudEvent');
          await transport.publish(event);
          done.push(row.id as string);
        } catch (err) {
          failed = true;
          const message = err instanceof Error ? err.message : String(err);
          await trx
            .withSchema(schema)
            .updateTable('outbox')
            .set({ attempts: sql`attempts + 1`, last_error: message.slice(0, 1000) })
            .where('id', '=', row.id)
            .execute();
          logger.warn({ err, id: row.id }, 'outbox publish failed; will retry');
          // Stop here: keeps events in order and does not hammer a transport that is down.
          break;
        }
      }
      if (done.length > 0) {
        await trx
          .withSchema(schema)
          .updateTable('outbox')
          .set({ published_at: sql`now()` })
          .where('id', 'in', done)
          .execute();
      }
      return { selected: rows.length, published: done.length, failed };
    });
    if (result.published > 0) {
      try {
        opts.onPublished?.(result.published);
      } catch (err) {
        logger.warn({ err }, 'outbox onPublished callback failed');
      }
    }
    return result;
  }

  /** Sleep; a nudge ends a poll wait, while a backoff wait ignores nudges so commits do not hammer a transport that is down. `stop()` ends either. */
  function wait(ms: number, interruptible: boolean): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      // The relay never keeps the process alive on its own; shutdown calls stop() to flush.
      t.unref();
      function done() {
        clearTimeout(t);
        endWait = undefined;
        resolve();
      }
      endWait = done;
      waitInterruptible = interruptible;
    });
  }

  async function loop(): Promise<void> {
    while (running) {
      nudged = false;
      let delay = pollMs;
      let interruptible = true;
      try {
        const r = await pass();
        if (r.failed) {
          failures += 1;
          delay = backoff(failures);
          interruptible = false;
        } else {
          failures = 0;
          // A full batch may have more behind it; a nudge during the pass may be for a
          // row committed after the select.
          if (r.selected === batchSize || nudged) delay = 0;
        }
      } catch (err) {
        failures += 1;
        delay = backoff(failures);
        interruptible = false;
        logger.error({ err }, 'outbox relay pass failed; will retry');
      }
      if (delay > 0 && running) await wait(delay, interruptible);
    }
  }

  async function pending(): Promise<number> {
    const row = await db
      .withSchema(schema)
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  return {
    start() {
      if (running) return;
      running = true;
      loopDone = loop();
    },

    nudge() {
      nudged = true;
      if (waitInterruptible) endWait?.();
    },

    async stop() {
      running = false;
      endWait?.();
      await loopDone;
      loopDone = undefined;
      // Flush: keep passing until nothing is pending (rows locked by another replica are
      // skipped and left to it), retrying failures until the deadline.
      const deadline = Date.now() + flushTimeoutMs;
      let flushFailures = 0;
      for (;;) {
        let r: { selected: number; failed: boolean };
        try {
          r = await pass();
        } catch (err) {
          logger.error({ err }, 'outbox flush pass failed');
          r = { selected: 1, failed: true };
        }
        if (!r.failed && r.selected === 0) return;
        if (!r.failed) continue;
        flushFailures += 1;
        const delay = Math.min(1000, backoff(flushFailures));
        if (Date.now() + delay > deadline) {
          const left = await pending().catch(() => undefined);
          logger.warn({ pending: left }, 'outbox relay stopped with events pending; the next start publishes them');
          return;
        }
        await sleep(delay);
      }
    },

    pending,
  };
}

/**
 * Idempotent consumer: run `fn` inside a transaction only if (consumer, eventId) was not
 * processed before, recording it in `<schema>.inbox` in the same transaction. Returns false
 * for a duplicate. A concurrent duplicate waits on the inbox row's lock and then sees it.
 */
export async function consumeOnce<DB>(
  db: Kysely<DB>,
  schema: string,
  consumer: string,
  eventId: string,
  fn: (trx: Transaction<DB>) => Promise<void>,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const inserted = await tables(trx)
      .withSchema(schema)
      .insertInto('inbox')
      .values({ consumer, event_id: eventId })
      .onConflict((oc) => oc.columns(['consumer', 'event_id']).doNothing())
      .returning('event_id')
      .executeTakeFirst();
    if (!inserted) return false;
    await fn(trx);
    return true;
  });
}
