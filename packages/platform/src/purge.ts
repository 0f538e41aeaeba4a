/**
 * Purging rows nobody needs any more: published outbox rows, processed inbox rows, and each
 * service's own (auth: ended sessions with their refresh tokens, spent one-time tokens).
 *
 * Never a long lock on a hot table: every statement deletes at most `batchSize` rows picked
 * with `FOR UPDATE SKIP LOCKED` (a row a request holds is skipped, not waited for; replicas
 * purging at once take different rows) and commits on its own, so a purge of a million rows
 * is a few thousand short transactions, never one long one. Retentions are in the typed
 * config (`config.purge`, docs/operations.md "Retention").
 */
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from './config';
import type { Db } from './db';
import type { PlatformTables } from './schema';

/**
 * One kind of row to purge. `run` deletes every row due, in batches, and returns how many; it
 * returns early, between batches, once `stopping()` is true (the service is shutting down).
 */
export interface PurgeTask {
  name: string;
  run(batchSize: number, stopping: () => boolean): Promise<number>;
}

/** What a purge removed, per task. */
export type PurgeReport = Record<string, number>;

/**
 * Calls `batch(limit)` until it deletes fewer than `limit` rows (or `stopping()`); returns the
 * total. Each call is one statement (its own transaction), so locks never outlive a batch.
 */
export async function drain(batchSize: number, batch: (limit: number) => Promise<number>, stopping: () => boolean = () => false): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await batch(batchSize);
    total += n;
    if (n < batchSize || stopping()) return total;
  }
}

/** The moment `sec` seconds before the database's now (the database clock decides, as for expiries). */
export const ago = (sec: number) => sql<Date>`now() - make_interval(secs => ${sec})`;

/**
 * Published outbox rows older than `outboxSec`, processed inbox rows older than `inboxSec`.
 * Both tables hold no tenant data and have no RLS: the owner connection deletes them.
 */
export function outboxPurgeTasks(admin: Db, schema: string, retention: Pick<Config['purge'], 'outboxSec' | 'inboxSec'>): PurgeTask[] {
  // the platform's own two tables, typed once (the service's Kysely type is not known here)
  const db = admin as Kysely<PlatformTables>;
  return [
    {
      name: `${schema}.outbox`,
      run: (size, stopping) =>
        drain(size, async (limit) => {
          const r = await db
            .withSchema(schema)
            .deleteFrom('outbox')
            .where('id', 'in', (eb) =>
              eb.selectFrom('outbox').select('id').where('published_at', '<', ago(retention.outboxSec)).limit(limit).forUpdate().skipLocked(),
            )
            .executeTakeFirst();
          return Number(r.numDeletedRows);
        }, stopping),
    },
    {
      name: `${schema}.inbox`,
      run: (size, stopping) =>
        drain(size, async (limit) => {
          const r = await db
            .withSchema(schema)
            .deleteFrom('inbox')
            .where(({ eb, refTuple, selectFrom }) =>
              eb(
                refTuple('consumer', 'event_id'),
                'in',
                selectFrom('inbox')
                  .select(['consumer', 'event_id'])
                  .where('processed_at', '<', ago(retention.inboxSec))
                  .limit(limit)
                  .forUpdate()
                  .skipLocked()
                  .$asTuple('consumer', 'event_id'),
              ),
            )
            .executeTakeFirst();
          return Number(r.numDeletedRows);
        }, stopping),
    },
  ];
}

/**
 * Runs `tasks` every `intervalSec` (0: never) and on demand. Runs never overlap; a failed task
 * is logged and the next ones still run. The timer does not keep the process alive.
 */
export function createPurger(opts: { tasks: PurgeTask[]; intervalSec: number; batchSize: number; logger: Logger; firstRunSec?: number }) {
  const { tasks, intervalSec, batchSize, logger } = opts;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<PurgeReport> | undefined;
  let stopped = false;

  async function runOnce(): Promise<PurgeReport> {
    // a run already under way is the answer: it started after everything due now was due
    if (current) return current;
    current = (async () => {
      const report: PurgeReport = {};
      let failure: unknown;
      for (const task of tasks) {
        if (stopped) break;
        try {
          report[task.name] = await task.run(batchSize, () => stopped);
        } catch (err) {
          logger.error({ err, task: task.name }, 'purge task failed');
          failure ??= err;
        }
      }
      const removed = Object.values(report).reduce((a, b) => a + b, 0);
      if (removed > 0) logger.info({ purged: report }, 'purged rows past their retention');
      if (failure !== undefined) throw failure;
      return report;
    })();
    try {
      return await current;
    } finally {
      current = undefined;
    }
  }

  function schedule(sec: number) {
    if (stopped || intervalSec <= 0) return;
    timer = setTimeout(() => {
      runOnce()
        .catch(() => {}) // logged by runOnce; the next interval tries again
        .finally(() => schedule(intervalSec));
    }, sec * 1000);
    timer.unref();
  }

  return {
    /** Runs every task once now (a run under way is joined); resolves to the rows removed per task. */
    runOnce,
    /** Starts the interval: a first run soon after start (a minute, or the interval if shorter), then every interval. */
    start(): void {
      stopped = false;
      schedule(opts.firstRunSec ?? Math.min(60, intervalSec));
    },
    /** Stops the interval and waits for a run under way (it stops at its next batch). */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current?.catch(() => {});
    },
  };
}
export type Purger = ReturnType<typeof createPurger>;
