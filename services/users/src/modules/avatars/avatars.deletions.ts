/**
 * Deleting storage objects safely around transactions. A transaction that drops its last
 * reference to an object records the key (`queueDeletions`) in the same commit; right after
 * the commit `deleteNow` removes the object, and a periodic sweep retries whatever failed
 * (the store was down, the process died between commit and delete). So an object is never
 * deleted while a committed row still points at it, and never forgotten.
 */
import type { Logger } from 'pino';
import type { Database } from '../../db/schema';
import type { Storage } from '@gatehouse/platform/storage';
import { forgetDeletion, lockPendingDeletions, recordDeletionFailure } from './avatars.queries';

/** Creates the deleter of unreferenced storage objects; `start()` runs its periodic sweep. */
export function createObjectDeletions(deps: { db: Database; storage: Storage; logger: Logger; intervalMs?: number }) {
  const { db, storage, logger } = deps;
  const intervalMs = deps.intervalMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  /** One pass over the queue. The queue holds only keys, no tenant data: a cross-tenant admin job. */
  async function sweep(): Promise<number> {
    let done = 0;
    await db.admin.transaction().execute(async (trx) => {
      for (const key of await lockPendingDeletions(trx, 100)) {
        try {
          await storage.delete(key);
          await forgetDeletion(trx, key);
          done++;
        } catch (err) {
          logger.warn({ err, key }, 'storage object delete failed; will retry');
          await recordDeletionFailure(trx, key, err instanceof Error ? err.message : String(err));
        }
      }
    });
    return done;
  }

  /** Sweeps now, then again one interval after it ends (until stopped). */
  function sweepAndReschedule() {
    running = sweep()
      .then(() => undefined)
      .catch((err: unknown) => logger.error({ err }, 'storage sweep failed'))
      .finally(() => {
        running = undefined;
        schedule();
      });
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(sweepAndReschedule, intervalMs);
    timer.unref();
  }

  return {
    sweep,

    /** Deletes objects whose references were just committed away; failures stay queued for the sweep. */
    async deleteNow(keys: string[]): Promise<void> {
      for (const key of keys) {
        try {
          await storage.delete(key);
          await forgetDeletion(db.admin, key);
        } catch (err) {
          logger.warn({ err, key }, 'storage object delete failed; the sweep retries it');
        }
      }
    },

    /** Sweeps once at once (catches up on what an earlier process left), then every interval. */
    start() {
      if (!stopped) return;
      stopped = false;
      sweepAndReschedule();
    },

    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
export type ObjectDeletions = ReturnType<typeof createObjectDeletions>;
