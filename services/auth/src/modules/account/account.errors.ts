import { AppError } from '@gatehouse/platform/errors';

/** Errors of self-service account changes. */
export const accountErrors = {
  invalidCredentials: () => new AppError('invalid_credentials', 401, { detail: 'The password is wrong.' }),
  /** no password given and the session's sign-in is not a fresh second factor */
  confirmationRequired: () =>
    new AppError('invalid_credentials', 401, {
      detail: 'Confirm with your password, or sign in again with a second factor (within the last 5 minutes) and retry.',
    }),
  superadminDelete: () =>
    new AppError('self_lockout', 409, { detail: 'A superadmin account cannot delete itself: another superadmin removes the role first.' }),
  sameEmail: () => new AppError('validation_failed', 400, { detail: 'This is already your email address.', errors: [{ path: 'body.newEmail', message: 'is the current address' }] }),
};
