import { AppError } from '@gatehouse/platform/errors';

/** Errors of second factors. */
export const mfaErrors = {
  /** Wrong, expired or already used TOTP or backup code at login. */
  invalidCodeLogin: () => new AppError('invalid_mfa_code', 401, { detail: 'The code is wrong, expired or already used.' }),
  /** Wrong code while confirming a new TOTP secret (the user is signed in: 400, not 401). */
  invalidCodeConfirm: () => new AppError('invalid_mfa_code', 400, { detail: 'The code does not match the new secret; check the device clock and try the next code.' }),
  invalidToken: () => new AppError('invalid_mfa_token', 401, { detail: 'The MFA token is unknown, expired or already used; sign in again.' }),
  alreadyEnabled: () => new AppError('mfa_already_enabled', 409, { detail: 'TOTP is already enabled; disable it first to enroll a new device.' }),
  notEnabled: () => new AppError('mfa_not_enabled', 409, { detail: 'TOTP is not enabled for this account.' }),
  noPendingSetup: () => new AppError('mfa_setup_required', 409, { detail: 'Start with POST /mfa/totp/setup.' }),
  invalidCredentials: () => new AppError('invalid_credentials', 401, { detail: 'The password is wrong.' }),
};
