import { AppError } from '@gatehouse/platform/errors';

/** Errors of sessions and refresh tokens. */
export const sessionErrors = {
  invalidRefresh: () => new AppError('invalid_refresh_token', 401, { detail: 'The refresh token is invalid, expired or revoked.' }),
  refreshReused: () =>
    new AppError('refresh_token_reused', 401, { detail: 'This refresh token was already used; the session has been revoked. Sign in again.' }),
  notFound: () => new AppError('not_found', 404, { detail: 'No such active session.' }),
};
