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
