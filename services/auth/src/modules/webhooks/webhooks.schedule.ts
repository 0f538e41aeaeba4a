/**
 * The retry schedule (docs/webhooks.md "Retries"): the delay before attempt n+1 after n failed
 * attempts, 1 s, 10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, then 8 h three times, each
 * multiplied by a random factor in [0.8, 1.2) (jitter, so endpoints that failed together do
 * not all retry in the same second). Twelve attempts spread over about 31.6 hours, never
 * less than 25 hours even with the smallest jitter: every event is tried for at least a day.
 * `scale` (WEBHOOK_RETRY_SCALE) multiplies every delay, for tests.
 */
export const RETRY_DELAYS_SEC = [1, 10, 60, 300, 1800, 3600, 7200, 14_400, 28_800, 28_800, 28_800] as const;

/** Attempts a delivery gets in all: the first and one per retry delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_SEC.length + 1;

/** Milliseconds to wait after `attempts` failed attempts, or undefined when none is left. */
export function retryDelayMs(attempts: number, scale: number, random: () => number = Math.random): number | undefined {
  const base = RETRY_DELAYS_SEC[attempts - 1];
  if (base === undefined) return undefined;
  return Math.round(base * 1000 * scale * (0.8 + 0.4 * random()));
}
