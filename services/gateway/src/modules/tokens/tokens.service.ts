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
      const token = tokenToVerify(req);
      if (token === undefined) return undefined;
      return ofTenant(await deps.verifier.verify(token), tenant);
    },

    /**
     * `check` without a promise where it can answer at once: `{ claims }` (undefined claims: no
     * token to check), or `undefined` when the token must be verified (`check`). Throws as `check`.
     */
    checkNow(req: FastifyRequest, tenant: Tenant): { claims: AccessClaims | undefined } | undefined {
      const token = tokenToVerify(req);
      if (token === undefined) return { claims: undefined };
      const claims = deps.verifier.verifyCached(token);
      return claims ? { claims: ofTenant(claims, tenant) } : undefined;
    },
  };
}

/** The bearer token to verify; undefined when there is none (or an enrollment token where it belongs). */
function tokenToVerify(req: FastifyRequest): string | undefined {
  const token = bearerToken(req);
  if (token === undefined) return undefined;
  // A tenant that requires MFA answers a first login with an opaque enrollment mfaToken
  // (`mfa_…`, not a JWT) that is the bearer of TOTP setup and confirm only; the auth
  // service checks it there. Everywhere else it is refused like any non-access token.
  if (token.startsWith('mfa_') && req.method === 'POST' && ENROLLMENT_PATHS.has(req.url.split('?')[0]!)) return undefined;
  return token;
}

function ofTenant(claims: AccessClaims, tenant: Tenant): AccessClaims {
  if (claims.tid !== tenant.id) throw errors.invalidToken('The access token belongs to another tenant.');
  return claims;
}
export type TokenGuard = ReturnType<typeof createTokenGuard>;
