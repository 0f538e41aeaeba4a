/** Error codes of profiles (part of the API contract). */
import { AppError } from '@gatehouse/platform/errors';

/** Errors of profiles, by name. */
export const profileErrors = {
  /**
   * The caller's token is valid but this service has no profile for them yet: the identity
   * service's `user.events.created` has not arrived (or the user was deleted). Retrying
   * shortly usually succeeds, hence Retry-After.
   */
  profileNotFound: () =>
    new AppError('profile_not_found', 404, {
      detail: 'Your profile is not available yet: it is created once the account is announced by the identity service. Try again in a few seconds.',
      headers: { 'retry-after': '2' },
    }),
  /** No such user in the caller's tenant (other tenants' users do not exist from here). */
  userNotFound: () => new AppError('user_not_found', 404, { detail: 'No such user in this tenant.' }),
  invalidField: (path: string, message: string) =>
    new AppError('validation_failed', 400, { detail: 'The request is not valid.', errors: [{ path, message }] }),
};
