/**
 * Access-token verification used by the gateway and by every service (defence in depth:
 * the gateway is not the only lock). Local verification with the auth service's public keys
 * (JWKS, cached by jose and re-fetched on an unknown `kid`), a strict algorithm allow-list,
 * `typ: at+jwt`, issuer and audience, and the shared revocation list.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errors } from './errors';
import type { RevocationList } from './revocation';

/** Claims of a Gatehouse access token (API.md "Tokens"). */
export interface AccessClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  tid: string;
  sid: string;
  roles: string[];
  /** the union of the permissions of the user's custom roles (absent in older tokens) */
  permissions?: string[];
  amr: string[];
  /** epoch seconds, with a millisecond fraction in tokens of the auth service */
  iat: number;
  exp: number;
  jti: string;
}

/** Header the gateway sets with the resolved tenant id; stripped from client input. */
export const TENANT_HEADER = 'x-gatehouse-tenant';
/** Header the gateway sets with the resolved tenant slug. */
export const TENANT_SLUG_HEADER = 'x-gatehouse-tenant-slug';

export const ALLOWED_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'];

export interface TokenVerifierOptions {
  /** a JWKS URL, or a key lookup function (all-in-one mode passes the auth service's own) */
  keys: URL | JWTVerifyGetKey;
  issuer: string;
  audience: string;
  revocations?: RevocationList;
  /**
   * Keep up to `max` verified tokens (keyed by their sha256) for `ttlMs` at most and never past
   * their exp, so a token used again skips the signature check (issue 13: the gateway and the
   * service behind it verify every request). The revocation list is still consulted on every
   * call, so a revoked session fails as before; `ttlMs` bounds how long a cached token outlives
   * the removal of its signing key (a key lookup's own cache comes on top: a remote JWKS is
   * kept up to 10 minutes).
   */
  cache?: { max: number; ttlMs: number };
}

/**
 * The verified-token cache every service's verifier uses: 10,000 tokens of ~1 KiB (~10 MiB at
 * most per service), each re-checked at least once a minute. One RS256 verification costs
 * ~0.1 ms of the event loop (bench/results/jwt-algorithms.md); without it an authenticated
 * request through the gateway paid it twice (gateway and service).
 */
export const VERIFIED_TOKEN_CACHE = { max: 10_000, ttlMs: 60_000 } as const;

/**
 * A copy of verified claims that a caller may change without changing the cached ones: the
 * top level and its arrays (every claim of a Gatehouse token is a string, a number or an array
 * of strings). Hand-written rather than `structuredClone`, which serialized and parsed the
 * whole payload once per authenticated request in the gateway and once in the service behind
 * it (~13 µs each time in a CPU profile of a proxied GET); a nested object some other issuer
 * put in a token is shared.
 */
function copyClaims(c: AccessClaims): AccessClaims {
  const copy: AccessClaims = { ...c };
  for (const [k, v] of Object.entries(copy)) if (Array.isArray(v)) Reflect.set(copy, k, [...v]);
  return copy;
}

/** Creates a verifier; `verify` throws AppError `invalid_token` for every failure. */
export function createTokenVerifier(opts: TokenVerifierOptions) {
  const getKey: JWTVerifyGetKey =
    opts.keys instanceof URL ? createRemoteJWKSet(opts.keys, { cooldownDuration: 5_000, cacheMaxAge: 10 * 60_000 }) : opts.keys;
  const cache = opts.cache && opts.cache.max > 0 ? new LRUCache<string, AccessClaims>({ max: opts.cache.max, ttl: opts.cache.ttlMs }) : undefined;
  // the token's digest, not the token: the cache holds no usable bearer token (one-shot `hash`,
  // ~40% cheaper than a Hash object for a token's size, on every authenticated request)
  const cacheKey = (token: string) => hash('sha256', token, 'base64url');
  /** A copy of the cached claims under `key` while unexpired; throws when the session is revoked. */
  function cached(key: string): AccessClaims | undefined {
    const hit = cache?.get(key);
    if (!hit) return undefined;
    if (hit.exp * 1000 <= Date.now()) {
      cache?.delete(key);
      return undefined;
    }
    if (opts.revocations?.isRevoked(hit)) throw errors.invalidToken('The session has been revoked.');
    // a copy: callers may change the claims they get
    return copyClaims(hit);
  }
  return {
    /**
     * `verify` for a token this verifier has verified before, without a promise: its claims while
     * unexpired, undefined when it has to be verified (`verify`). Throws `invalid_token` when its
     * session is revoked. For hooks that take the common case synchronously (the gateway's).
     */
    verifyCached(token: string): AccessClaims | undefined {
      return cache ? cached(cacheKey(token)) : undefined;
    },

    async verify(token: string): Promise<AccessClaims> {
      const key = cache ? cacheKey(token) : undefined;
      const hit = key !== undefined ? cached(key) : undefined;
      if (hit) return hit;
      let payload: Record<string, unknown>;
      try {
        const res = await jwtVerify(token, getKey, {
          algorithms: ALLOWED_ALGORITHMS,
          issuer: opts.issuer,
          audience: opts.audience,
          typ: 'at+jwt',
          requiredClaims: ['sub', 'tid', 'sid', 'iat', 'exp', 'jti'],
          clockTolerance: 5,
        });
        payload = res.payload as Record<string, unknown>;
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw errors.invalidToken('The access token has expired.');
        if (err instanceof joseErrors.JOSEError || err instanceof TypeError || err instanceof SyntaxError) throw errors.invalidToken();
        // JWKS fetch failures and the like: the caller cannot fix them, but they are not a 500 either
        throw errors.invalidToken('The access token could not be verified.');
      }
      const claims = payload as unknown as AccessClaims;
      if (typeof claims.sub !== 'string' || typeof claims.tid !== 'string' || typeof claims.sid !== 'string') throw errors.invalidToken();
      if (!Array.isArray(claims.roles) || !claims.roles.every((r) => typeof r === 'string')) throw errors.invalidToken();
      if (!Array.isArray(claims.amr)) claims.amr = [];
      if (opts.revocations?.isRevoked(claims)) throw errors.invalidToken('The session has been revoked.');
      if (key !== undefined && typeof claims.exp === 'number') cache?.set(key, copyClaims(claims));
      return claims;
    },
  };
}
export type TokenVerifier = ReturnType<typeof createTokenVerifier>;

/** Reads `Authorization: Bearer …`; undefined when absent. Throws on a malformed header. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/i.exec(h);
  if (!m) throw errors.invalidToken('The Authorization header must be "Bearer <token>".');
  return m[1];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** verified access-token claims, set by `authenticate` */
    auth?: AccessClaims;
  }
}

/**
 * preHandler that requires a valid access token and, when given, one of `roles`.
 * `superadmin` implies `admin`, and `admin` implies `organizer`.
 */
export function authenticate(verifier: TokenVerifier, roles: string[] = []) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(req);
    if (!token) throw errors.invalidToken('An access token is required.');
    const claims = await verifier.verify(token);
    const tenant = req.headers[TENANT_HEADER];
    if (typeof tenant === 'string' && tenant !== claims.tid) throw errors.invalidToken('The access token belongs to another tenant.');
    req.auth = claims;
    if (roles.length && !hasRole(claims.roles, roles)) throw errors.forbidden();
  };
}

/** Role check with the hierarchy superadmin > admin > organizer > user. */
export function hasRole(have: string[], anyOf: string[]): boolean {
  const implied = new Set(have);
  if (implied.has('superadmin')) implied.add('admin');
  if (implied.has('admin')) implied.add('organizer');
  implied.add('user');
  return anyOf.some((r) => implied.has(r));
}

/** The tenant id of a request: from the verified token, else the gateway's header. */
export function requestTenant(req: FastifyRequest): string {
  if (req.auth) return req.auth.tid;
  const t = req.headers[TENANT_HEADER];
  if (typeof t === 'string' && /^[0-9a-f-]{36}$/i.test(t)) return t;
  throw new AppError('tenant_not_found', 404, { detail: 'No tenant could be resolved for this request.' });
}
