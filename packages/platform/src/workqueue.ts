/**
 * A bounded queue for expensive work (password hashing): at most `concurrency` jobs run, at
 * most `maxPending` wait, and a job that waited longer than `maxWaitMs` is not started. Work
 * beyond that is shed at once with 503 `overloaded` and a Retry-After estimated from the
 * queue, instead of piling up until something further down (the database pool, the client's
 * patience) fails with a 500. p-limit does the running; the bounds and the estimate are ours.
 */
import pLimit from 'p-limit';
import { AppError } from './errors';

export interface WorkQueueOptions {
  /** jobs running at once */
  concurrency: number;
  /** jobs waiting at most; one more is refused */
  maxPending: number;
  /** a job that waited this long is refused instead of started (the caller has likely given up) */
  maxWaitMs: number;
}

/** The error a shed job gets. */
export function overloaded(retryAfterSec: number): AppError {
  return new AppError('overloaded', 503, {
    detail: 'The service is busy; try again shortly.',
    headers: { 'retry-after': String(Math.min(60, Math.max(1, Math.ceil(retryAfterSec)))) },
  });
}

/** Creates a queue; see the module comment. */
export function createWorkQueue(opts: WorkQueueOptions) {
  const limit = pLimit(Math.max(1, opts.concurrency));
  // moving average of a job's duration, for the Retry-After estimate
  let avgMs = 50;

  /** Seconds until the queue as it is now would have drained. */
  function drainSec(): number {
    return ((limit.pendingCount + limit.activeCount) / limit.concurrency) * (avgMs / 1000);
  }

  return {
    /** Runs `fn` when a slot is free; throws 503 `overloaded` when the queue is full or the wait too long. */
    run<T>(fn: () => Promise<T>): Promise<T> {
      // a free slot always runs the job (maxPending 0: no waiting at all, not no work)
      if (limit.activeCount >= limit.concurrency && limit.pendingCount >= opts.maxPending) return Promise.reject(overloaded(drainSec()));
      const queuedAt = performance.now();
      return limit(async () => {
        const started = performance.now();
        if (started - queuedAt > opts.maxWaitMs) throw overloaded(drainSec());
        try {
          return await fn();
        } finally {
          avgMs = avgMs * 0.9 + (performance.now() - started) * 0.1;
        }
      });
    },
    get active(): number {
      return limit.activeCount;
    },
    get pending(): number {
      return limit.pendingCount;
    },
  };
}
export type WorkQueue = ReturnType<typeof createWorkQueue>;
