import { AppError } from '@gatehouse/platform/errors';

/** Errors of registration and login. */
export const authErrors = {
  /** One body for unknown user, wrong password and empty password (no enumeration). */
  invalidCredentials: () => new AppError('invalid_credentials', 401, { detail: 'The email, username or password is wrong.' }),
  accountDisabled: () => new AppError('account_disabled', 403, { detail: 'This account is disabled.' }),
  /** The refresh cookie arrived from an origin that may not use it (CSRF through sibling tenants). */
  originNotAllowed: () =>
    new AppError('origin_not_allowed', 403, { detail: 'The refresh cookie is accepted only from this tenant\'s own and allowed origins.' }),
  identifierRequired: () =>
    new AppError('validation_failed', 400, {
      detail: 'Give the email or the username.',
      errors: [{ path: 'body.email', message: 'email or username is required' }],
    }),
};
