import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of social login and provider configuration. */
export const oauthErrors = {
  invalidRedirectUri: () =>
    new AppError('invalid_redirect_uri', 400, { detail: 'redirectUri must be exactly one of the tenant\'s registered redirect URIs (http or https, no userinfo, no fragment).' }),
  providerNotFound: () => new AppError('provider_not_found', 404, { detail: 'This sign-in provider is not offered by this tenant.' }),
  /** The callback's state is unknown, expired or used: there is no validated redirect URI to send the error to. */
  invalidState: () => new AppError('invalid_state', 400, { detail: 'The sign-in attempt is unknown, expired or already used; start again.' }),
  invalidCode: () => new AppError('invalid_code', 400, { detail: 'The code is unknown, expired or already used.' }),
  badConfig: (path: string, message: string) => errors.validation([{ path, message }], 'The provider configuration is not valid.'),
  identityNotFound: () => new AppError('identity_not_found', 404, { detail: 'No sign-in identity of this provider is linked to your account.' }),
  /** Unlinking would leave the account without a way to sign in. */
  lastSignInMethod: () =>
    new AppError('last_sign_in_method', 409, {
      detail: 'This is your only way to sign in. Set a password, add a passkey or link another provider first, then unlink this one.',
    }),
  /** The provider could not be reached or configured (discovery failed). */
  providerUnavailable: (cause: unknown) =>
    new AppError('provider_unavailable', 502, { detail: 'The sign-in provider could not be reached or is misconfigured.', cause }),
};

/**
 * Codes sent back to the app as `?error=` on the redirect URI once it is validated. Stable,
 * part of the contract (README); never a provider's free text.
 */
export type CallbackError =
  | 'access_denied'
  | 'state_mismatch'
  | 'invalid_grant'
  | 'invalid_response'
  /** the ID token failed verification: signature, issuer, audience, expiry, nonce or algorithm */
  | 'invalid_id_token'
  | 'provider_error'
  | 'email_required'
  | 'link_required'
  | 'identity_in_use'
  | 'registration_closed'
  | 'account_disabled'
  | 'tenant_not_found';
