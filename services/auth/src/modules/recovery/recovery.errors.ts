import { AppError } from '@gatehouse/platform/errors';

/** Errors of password change/reset and email verification. */
export const recoveryErrors = {
  invalidToken: () => new AppError('invalid_token', 400, { detail: 'The token is invalid, expired or already used.' }),
  invalidCredentials: () => new AppError('invalid_credentials', 401, { detail: 'The current password is wrong.' }),
};
