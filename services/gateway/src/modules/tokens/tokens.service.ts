/**
 * Access-token checks at the gateway: a request that carries `Authorization` must carry a
 * valid, unrevoked access token of the resolved tenant; a request without one passes (the
 * services decide which routes need a token, and verify it again).
 */
import type { FastifyRequest } from 'fastify';
import { bearerToken, errors, type AccessClaims, type TokenVerifier } from '@gatehouse/platform';
import type { Tenant } from '../tenancy/tenancy.schemas';

const ENROLLMENT_PATHS = new Set(['/api/v1/auth/mfa/totp/setup', '/api/v1/auth/mfa/totp/confirm']);

/** Creates the check; `verifier` is the platform's JWKS-backed verifier with the shared revocation list. */
export function createTokenGuard(deps: { verifier: TokenVerifier }) {
  return {
    /**
     * Verifies the request's bearer token against `tenant`. Returns the claims, or undefined
     * when the request has no Authorization header. Throws 401 `invalid_token` otherwise.
     */
    async check(req: FastifyRequest, tenant: Tenant): Promise<AccessClaims | undefined> {
      const token = bearerToken(req);
      if (token === undefined) return undefined;
      // A tenant that requires MFA answers a first login with an opaque enrollment mfaToken
      // (`mfa_…`, not a JWT) that is the bearer of TOTP setup and confirm only; the auth
      // service checks it there. Everywhere else it is refused like any non-access token.
      if (token.startsWith('mfa_') && req.method === 'POST' && ENROLLMENT_PATHS.has(req.url.split('?')[0]!)) return undefined;
      const claims = await deps.verifier.verify(token);
      if (claims.tid !== tenant.id) throw errors.invalidToken('The access token belongs to another tenant.');
      return claims;
    },
  };
}
export type TokenGuard = ReturnType<typeof createTokenGuard>;
