/**
 * Work done off the response path (forgot-password lookups and emails), so a response's
 * timing does not tell whether an account exists. Tracked so shutdown and tests can wait
 * for it; failures are logged, never thrown at a caller that has already been answered.
 */
import type { Logger } from 'pino';

export function createBackground(logger: Logger) {
  const pending = new Set<Promise<void>>();
  return {
    /** Starts `fn` on a later tick and tracks it. */
    run(name: string, fn: () => Promise<void>): void {
      const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(fn)
        .catch((err: unknown) => logger.error({ err, task: name }, 'background task failed'))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    /** Resolves when every task started so far has finished. */
    async idle(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
export type Background = ReturnType<typeof createBackground>;
