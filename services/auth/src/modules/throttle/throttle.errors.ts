import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of credential throttling. */
export const throttleErrors = {
  tooMany: (retryAfterMs: number) =>
    new AppError('too_many_attempts', 429, {
      detail: 'Too many attempts; try again later.',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    }),
  /** The limit store is down: credential endpoints fail closed (ASVS 16.5.3). */
  storeDown: (cause: unknown) =>
    Object.assign(errors.unavailable('Credential checks are unavailable right now; try again shortly.'), { cause }),
};

/**
 * Runs a call on the shared KvStore (limits, MFA and OAuth flow tokens): an AppError passes
 * through, any other failure becomes {@link throttleErrors.storeDown}. The store failing is
 * not the caller's fault, and must never let a login through.
 */
export async function guardStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw throttleErrors.storeDown(err);
  }
}
