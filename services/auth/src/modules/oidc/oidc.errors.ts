import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of the OpenID provider's REST routes. */
export const oidcErrors = {
  applicationNotFound: () => new AppError('not_found', 404, { detail: 'No such application in this tenant.' }),
  resourceNotFound: () => new AppError('not_found', 404, { detail: 'No such API resource in this tenant.' }),
  consentNotFound: () => new AppError('not_found', 404, { detail: 'You have not connected this application.' }),
  audienceTaken: () => new AppError('audience_taken', 409, { detail: 'An API resource with this audience exists.' }),
  invalidRedirectUri: (uri: string, why: string) => new AppError('invalid_redirect_uri', 400, { detail: `Redirect URI "${uri.slice(0, 200)}" ${why}.` }),
  invalidAudience: () => errors.validation([{ path: 'body.audience', message: 'must be an absolute URI' }]),
  unknownResource: (aud: string) => errors.validation([{ path: 'body.resources', message: `"${aud.slice(0, 200)}" is not an API resource of this tenant` }]),
  interactionNotFound: () => new AppError('interaction_not_found', 404, { detail: 'This sign-in request expired or was already completed; start again from the application.' }),
  noSecret: () => new AppError('no_client_secret', 409, { detail: 'Public applications (spa, native) have no client secret.' }),
};
