/**
 * Verifies Gatehouse access tokens the way the gateway does (packages/platform/src/auth.ts):
 * signature with the JWKS (jose's remote key set: cached, re-fetched on an unknown `kid`),
 * a strict algorithm allow-list, `typ: at+jwt`, `iss`, `aud`, the required claims, the
 * tenant (`tid`) the service serves, and the revocation feed.
 */
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { forbidden, invalidToken, VerifyError } from './errors.js';
import { createRevocationFeed, type RevocationFeed, type RevocationFeedOptions } from './revocations.js';

export const ALLOWED_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'];

/** Claims of a Gatehouse access token (API.md "Tokens"). */
export interface AccessClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  tid: string;
  sid: string;
  roles: string[];
  permissions?: string[];
  amr: string[];
  iat: number;
  exp: number;
  jti: string;
  [claim: string]: unknown;
}

/** What a verified request exposes (`req.gatehouse`). */
export interface GatehouseAuth {
  user: { id: string; tenantId: string; sessionId: string; amr: string[] };
  /** the token's roles (`user`, `organizer`, `admin`, `superadmin`, or the tenant's own) */
  roles: string[];
  /** the union of the roles' permissions (claim `permissions`; empty when the token has none) */
  permissions: string[];
  claims: AccessClaims;
  token: string;
  /** role check with the hierarchy superadmin > admin > organizer > user */
  hasRole(role: string): boolean;
  can(permission: string): boolean;
}

/** The tenant ids a request may carry tokens of; `'*'` accepts every tenant (the service then checks `user.tenantId` itself). */
export type TenantRule = string | string[] | ((req: IncomingMessage | undefined) => string | string[] | undefined | Promise<string | string[] | undefined>);

export interface VerifierOptions {
  /** the deployment's token issuer (`TOKEN_ISSUER`, by default its `PUBLIC_URL`, e.g. `https://id.example.com`) */
  issuer: string;
  /** accepted audience(s) (default `gatehouse`, the deployment's `TOKEN_AUDIENCE`) */
  audience?: string | string[];
  /** default `<issuer>/.well-known/jwks.json` */
  jwksUrl?: string | URL;
  /** the tenant (id) this service serves; see {@link TenantRule} */
  tenant: TenantRule | '*';
  /** the revocation feed (Redis of the deployment); `false`: tokens count until they expire (not recommended) */
  revocation: RevocationFeedOptions | false;
  /** seconds of clock skew tolerated (default 5, as the gateway) */
  clockToleranceSec?: number;
  /** a key lookup instead of the JWKS URL */
  keys?: JWTVerifyGetKey;
}

function hasRoleIn(have: string[], role: string): boolean {
  const implied = new Set(have);
  if (implied.has('superadmin')) implied.add('admin');
  if (implied.has('admin')) implied.add('organizer');
  implied.add('user');
  return implied.has(role);
}

/** Reads `Authorization: Bearer …`; undefined when absent; throws 401 when malformed. */
export function bearerFrom(header: string | string[] | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/i.exec(Array.isArray(header) ? header.join(',') : header);
  if (!m) throw invalidToken('The Authorization header must be "Bearer <token>".');
  return m[1];
}

export interface Verifier {
  /** Verifies a token for a request (the request is handed to a tenant function). Throws {@link VerifyError}. */
  verify(token: string, req?: IncomingMessage): Promise<GatehouseAuth>;
  /** Verifies the request's bearer token; throws 401 when there is none. */
  authenticate(req: IncomingMessage): Promise<GatehouseAuth>;
  /** Resolves once the revocation feed is loaded (verify waits for it too). */
  ready(): Promise<void>;
  /** Stops the revocation feed. */
  close(): Promise<void>;
}

/** Creates a verifier; share one per process (it holds the JWKS cache and the revocation feed). */
export function createVerifier(opts: VerifierOptions): Verifier {
  const issuer = opts.issuer.replace(/\/$/, '');
  const audience = opts.audience ?? 'gatehouse';
  const keys = opts.keys ?? createRemoteJWKSet(new URL(opts.jwksUrl ?? `${issuer}/.well-known/jwks.json`), { cooldownDuration: 5_000, cacheMaxAge: 10 * 60_000 });
  const feed: RevocationFeed | undefined = opts.revocation ? createRevocationFeed(opts.revocation) : undefined;
  let started: Promise<void> | undefined;
  const ready = () => {
    started ??= (feed?.start() ?? Promise.resolve()).catch((err: unknown) => {
      started = undefined; // try again on the next request
      throw err;
    });
    return started;
  };

  async function tenantsFor(req: IncomingMessage | undefined): Promise<string[] | '*'> {
    if (opts.tenant === '*') return '*';
    const t = typeof opts.tenant === 'function' ? await opts.tenant(req) : opts.tenant;
    return t === undefined ? [] : Array.isArray(t) ? t : [t];
  }

  async function verify(token: string, req?: IncomingMessage): Promise<GatehouseAuth> {
    try {
      await ready();
    } catch {
      // without the feed a revoked token could pass: refuse rather than guess
      throw new VerifyError(503, 'service_unavailable', 'The revocation feed is unavailable; try again shortly.');
    }
    let claims: AccessClaims;
    try {
      const res = await jwtVerify(token, keys, {
        algorithms: ALLOWED_ALGORITHMS,
        issuer,
        audience,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'tid', 'sid', 'iat', 'exp', 'jti'],
        clockTolerance: opts.clockToleranceSec ?? 5,
      });
      claims = res.payload as unknown as AccessClaims;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw invalidToken('The access token has expired.');
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') throw invalidToken('The access token is for another audience.');
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'iss') throw invalidToken('The access token is from another issuer.');
      throw invalidToken();
    }
    if (typeof claims.sub !== 'string' || typeof claims.tid !== 'string' || typeof claims.sid !== 'string') throw invalidToken();
    if (!Array.isArray(claims.roles) || !claims.roles.every((r) => typeof r === 'string')) throw invalidToken();
    const permissions = Array.isArray(claims.permissions) ? claims.permissions.filter((p): p is string => typeof p === 'string') : [];
    const amr = Array.isArray(claims.amr) ? claims.amr.filter((a): a is string => typeof a === 'string') : [];
    const tenants = await tenantsFor(req);
    if (tenants !== '*' && !tenants.includes(claims.tid)) throw invalidToken('The access token belongs to another tenant.');
    if (feed?.isRevoked(claims)) throw invalidToken('The session has been revoked.');
    return {
      user: { id: claims.sub, tenantId: claims.tid, sessionId: claims.sid, amr },
      roles: claims.roles,
      permissions,
      claims,
      token,
      hasRole: (role) => hasRoleIn(claims.roles, role),
      can: (permission) => permissions.includes(permission),
    };
  }

  return {
    verify,
    async authenticate(req) {
      const token = bearerFrom(req.headers.authorization);
      if (!token) throw invalidToken('An access token is required.');
      return verify(token, req);
    },
    ready,
    async close() {
      await feed?.stop();
      started = undefined;
    },
  };
}

/** Requirements a route may add: any of `roles` (with the hierarchy), all of `permissions`. */
export interface Requirements {
  roles?: string[];
  permissions?: string[];
}

/** Throws 403 when `auth` misses a requirement. */
export function requireGrants(auth: GatehouseAuth, need: Requirements = {}): void {
  if (need.roles?.length && !need.roles.some((r) => auth.hasRole(r))) throw forbidden('A role this route needs is missing.');
  if (need.permissions?.length && !need.permissions.every((p) => auth.can(p))) throw forbidden('A permission this route needs is missing.');
}
