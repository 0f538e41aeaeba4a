/** Transactional outbox (enqueue, relay) and idempotent inbox (consumeOnce). */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { PlatformTables } from '../schema';
import type { Logger } from 'pino';
import type client from 'prom-client';
import { counter, observedGauge } from '../metrics';
import { SUBJECT_RE, isCloudEvent, type CloudEvent } from './envelope';
import type { EventTransport } from './transport';
import { isUuid } from '../formats';
import { preparedQuery } from '../prepared';

// Well under NATS' default 1 MiB max_payload, so an oversized event fails at enqueue time
// (inside the caller's transaction) instead of blocking the relay.
const MAX_EVENT_BYTES = 512 * 1024;

/**
 * The functions below accept any service's database (`Kysely<DB>`, a transaction included)
 * and reach only the outbox and inbox tables ({@link PlatformTables}), which every service database has.
 */
// A cast, not a constraint: Kysely cannot resolve table names on an unresolved generic `DB`.
const tables = <DB>(db: Kysely<DB> | Transaction<DB>) => db as unknown as Kysely<PlatformTables>;

/**
 * Insert events into `<schema>.outbox` inside the caller's transaction, so they commit (or
 * roll back) together with the state change they describe. Services do not call this: they
 * use the unit of work's `emit` (db.ts), which calls it and nudges the relay after the commit.
 */
export async function enqueueEvents<DB>(db: Kysely<DB> | Transaction<DB>, schema: string, events: CloudEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event) => {
    if (!isCloudEvent(event)) throw new Error('not a valid CloudEvent');
    if (!isUuid(event.id)) throw new Error(`event id must be a UUID: ${event.id}`);
    if (!SUBJECT_RE.test(event.type)) throw new Error(`event type is not a NATS subject: ${event.type}`);
    const payload = JSON.stringify(event);
    if (Buffer.byteLength(payload) > MAX_EVENT_BYTES) throw new Error(`event ${event.type} is too large`);
    return { id: event.id, subject: event.type, payload };
  });
  await enqueueQuery(schema, rows.length).run(tables(db), Object.fromEntries(rows.flatMap((r, i) => [[`id${i}`, r.id], [`subject${i}`, r.subject], [`payload${i}`, r.payload]])));
}

/**
 * The outbox INSERT of `n` rows into `schema`, compiled once per schema and row count
 * (prepared.ts): a transaction emits one or two events, and this ran at every one of them.
 */
function enqueueQuery(schema: string, n: number) {
  const key = `${schema}/${n}`;
  let q = enqueueQueries.get(key);
  if (!q) {
    q = preparedQuery((k: Kysely<PlatformTables>, p: Record<string, string>) =>
      k
        .withSchema(schema)
        .insertInto('outbox')
        .values(
          Array.from({ length: n }, (_, i) => ({
            id: p[`id${i}`]!,
            subject: p[`subject${i}`]!,
            payload: p[`payload${i}`]!,
            // All rows of one transaction share now(); a microsecond apart keeps their order in
            // the relay, which publishes by created_at.
            created_at: sql<Date>`now() + ${i}::int * interval '1 microsecond'`,
          })),
        ),
      // named (a prepared statement per connection) only when kept: see below
      { named: n <= 16 },
    );
    // a few schemas, and row counts of a handful: bounded in practice; a burst of many events
    // in one transaction is rare, so larger counts are not kept (nor named)
    if (n <= 16) enqueueQueries.set(key, q);
  }
  return q;
}
const enqueueQueries = new Map<string, ReturnType<typeof preparedQuery<PlatformTables, Record<string, string>, unknown>>>();

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
  /** where the relay's metrics go (backlog, oldest age, published, failures), labelled `service` = schema */
  registry?: client.Registry;
}

/**
 * Publish committed outbox rows. Each pass claims a batch of pending rows with
 * `FOR UPDATE SKIP LOCKED` (so replicas share the work without publishing a row twice at
 * once), marks them published and publishes them in order in the same transaction. On a
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
  const metrics = opts.registry ? relayMetrics(opts.registry, schema, () => backlog()) : undefined;

  let running = false;
  let loopDone: Promise<void> | undefined;
  let nudged = false;
  /** ends the current wait; undefined when not waiting */
  let endWait: (() => void) | undefined;
  let waitInterruptible = false;
  let failures = 0;

  const backoff = (n: number) => Math.min(5000, 100 * 2 ** Math.min(n, 10));

  /**
   * The claim: one UPDATE that claims up to batchSize pending rows (`FOR UPDATE SKIP LOCKED`,
   * oldest first) and marks them published, returning them ordered in SQL (created_at has
   * microseconds, enqueueEvents spaces one transaction's rows a microsecond apart, a JS Date
   * only milliseconds, and RETURNING has no order). The same statement at every pass (the
   * relay runs after every commit that emits and polls every second): compiled once
   * (prepared.ts).
   */
  const claimQuery = preparedQuery((k: Kysely<PlatformTables>) =>
    k
      .withSchema(schema)
      .with('claimed', (qb) =>
        qb
          .updateTable('outbox')
          .set({ published_at: sql`now()` })
          .where('id', 'in', (eb) =>
            eb.selectFrom('outbox').select('id').where('published_at', 'is', null).orderBy('created_at').limit(batchSize).forUpdate().skipLocked(),
          )
          .returning(['id', 'payload', 'created_at']),
      )
      .selectFrom('claimed')
      .select(['id', 'payload'])
      .orderBy('created_at'),
  );

  /**
   * One transaction, three round trips whatever the batch: BEGIN; one UPDATE that claims up to
   * batchSize pending rows (`FOR UPDATE SKIP LOCKED`, oldest first) and marks them published,
   * returning them; then, after publishing them in order, COMMIT. Marked before they are
   * published is safe: nothing is visible before the commit, and a crash rolls the marks back.
   * On a failure the rows from the failed one on are unmarked again (the failed one records
   * the attempt and error) before the commit.
   */
  async function pass(): Promise<{ selected: number; published: number; failed: boolean }> {
    const result = await db.transaction().execute(async (trx) => {
      // ordered in SQL: created_at has microseconds (enqueueEvents spaces one transaction's
      // rows a microsecond apart), a JS Date only milliseconds, and RETURNING has no order
      const rows = await claimQuery.run(trx, {});
      let published = 0;
      let failed = false;
      for (const row of rows) {
        try {
          const event: unknown = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
          if (!isCloudEvent(event)) throw new Error('outbox payload is not a CloudEvent');
          await transport.publish(event);
          published += 1;
        } catch (err) {
          failed = true;
          metrics?.failures.inc({ service: schema });
          const message = err instanceof Error ? err.message : String(err);
          // this row and the ones after it stay pending; this one records the attempt
          await trx
            .withSchema(schema)
            .updateTable('outbox')
            .set({
              published_at: null,
              attempts: sql`attempts + case when id = ${row.id} then 1 else 0 end`,
              last_error: sql`case when id = ${row.id} then ${message.slice(0, 1000)} else last_error end`,
            })
            .where(
              'id',
              'in',
              rows.slice(published).map((r) => r.id),
            )
            .execute();
          logger.warn({ err, id: row.id }, 'outbox publish failed; will retry');
          // Stop here: keeps events in order and does not hammer a transport that is down.
          break;
        }
      }
      return { selected: rows.length, published, failed };
    });
    if (result.published > 0) {
      metrics?.published.inc({ service: schema }, result.published);
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

  /** Pending rows and the age of the oldest, in one query (read when metrics are scraped). */
  async function backlog(): Promise<{ pending: number; oldestSec: number }> {
    const row = await db
      .withSchema(schema)
      .selectFrom('outbox')
      .select((eb) => [eb.fn.countAll<string>().as('n'), sql<string | null>`extract(epoch from now() - min(created_at))`.as('age')])
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return { pending: Number(row.n), oldestSec: row.age === null ? 0 : Math.max(0, Number(row.age)) };
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
 * The relay's metrics. Both gauges come from one backlog query per scrape: a scrape collects
 * every metric at once, so the second reader shares the first's query while it runs.
 */
function relayMetrics(registry: client.Registry, service: string, read: () => Promise<{ pending: number; oldestSec: number }>) {
  let inflight: Promise<{ pending: number; oldestSec: number }> | undefined;
  const current = () => {
    inflight ??= read().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  observedGauge(registry, 'gatehouse_outbox_backlog', 'Outbox events committed but not yet published', ['service']).source({ service }, async () => (await current()).pending);
  observedGauge(registry, 'gatehouse_outbox_oldest_age_seconds', 'Age of the oldest unpublished outbox event (0 when none)', ['service']).source(
    { service },
    async () => (await current()).oldestSec,
  );
  const published = counter(registry, 'gatehouse_outbox_published_total', 'Outbox events the relay published', ['service']);
  const failures = counter(registry, 'gatehouse_outbox_publish_failures_total', 'Outbox publish attempts that failed (the event is retried)', ['service']);
  published.inc({ service }, 0);
  failures.inc({ service }, 0);
  return { published, failures };
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
