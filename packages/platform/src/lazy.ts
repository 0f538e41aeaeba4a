/**
 * Something loaded on its first use rather than at start (issue 13: start-up time and memory):
 * a package a process may never need (a QR renderer, a password blocklist). One load, shared
 * by every caller; a load that fails is not kept (the next caller tries again) and answers 503
 * `service_unavailable` with Retry-After, never a 500: a broken install or a passing read error
 * is the server's condition, not the request's fault.
 */
import { AppError } from './errors';

/** `load` run once, on the first call of the returned function; `what` names it in the 503's detail. */
export function loadOnFirstUse<T>(what: string, load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((err: unknown) => {
      loaded = undefined;
      throw new AppError('service_unavailable', 503, { detail: `${what} could not be loaded; try again shortly.`, headers: { 'retry-after': '5' }, cause: err });
    }));
}
