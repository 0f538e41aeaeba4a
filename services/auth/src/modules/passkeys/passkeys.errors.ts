import { AppError } from '@gatehouse/platform/errors';

/** Errors of passkeys. */
export const passkeyErrors = {
  /** The registration response failed verification (challenge, origin, RP id, signature). */
  invalidRegistration: (detail = 'The passkey registration could not be verified; start again.') => new AppError('invalid_passkey', 400, { detail }),
  /** Any failed passkey sign-in: one answer, whatever failed (unknown credential, challenge, signature). */
  invalidAssertion: () => new AppError('invalid_credentials', 401, { detail: 'The passkey could not be verified; start again.' }),
  notFound: () => new AppError('not_found', 404, { detail: 'No such passkey.' }),
};
