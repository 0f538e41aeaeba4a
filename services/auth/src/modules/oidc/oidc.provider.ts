/**
 * Gatehouse as an OpenID Connect provider (issue 11), on `oidc-provider` (OpenID Certified;
 * the protocol is not hand-written). One Provider per tenant, built on first use and cached;
 * issuer `<tenant origin>/oidc`. Its storage is the auth database (oidc_payloads, under RLS
 * through `db.withTenant`), its clients are the tenant's applications, its signing keys the
 * auth service's sealed keys (one JWKS: rebuilt when the current key changes).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { default as Provider, Adapter, AdapterPayload, Grant, KoaContextWithOIDC } from 'oidc-provider';
import { jwtVerify } from 'jose';
import type { Logger } from 'pino';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import type { ApplicationRow, Database } from '../../db/schema';
import { oidcEvent } from '../../events';
import type { KeyService } from '../keys/keys.service';
import type { TenantService, Tenant } from '../tenants/tenants.service';
import {
  consumePayload,
  destroyByGrant,
  destroyPayload,
  findApplicationByClientId,
  findConsent,
  findPayload,
  findResourceByAudience,
  upsertPayload,
} from './oidc.queries';

/** The OpenID scopes every tenant's provider offers (API resources add their own). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/** Tenants whose Provider stays built in memory (rebuilding one costs a few milliseconds). */
const MAX_CACHED_PROVIDERS = 500;

/** Lifetimes in seconds. */
const TTL = {
  AccessToken: 600,
  ClientCredentials: 600,
  AuthorizationCode: 60,
  IdToken: 3600,
  RefreshToken: 14 * 24 * 3600,
  Grant: 14 * 24 * 3600,
  Session: 14 * 24 * 3600,
  Interaction: 3600,
  DeviceCode: 600,
  PushedAuthorizationRequest: 60,
};

/** sha256 of a client secret, hex: how it is stored (secrets are 256-bit random values). */
export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The client secret presented on the current request (Basic header or form), if any. */
function presentedSecret(ctx: KoaContextWithOIDC | undefined): string | undefined {
  if (!ctx) return undefined;
  const fromParams = ctx.oidc?.params?.client_secret ?? ctx.oidc?.body?.client_secret;
  if (typeof fromParams === 'string' && fromParams) return fromParams;
  const header = ctx.headers.authorization;
  if (typeof header !== 'string' || !header.toLowerCase().startsWith('basic ')) return undefined;
  const basic = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = basic.indexOf(':');
  if (i < 0) return undefined;
  try {
    return decodeURIComponent(basic.slice(i + 1).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True for a redirect URI an application may register (exact match later; API.md rules). */
export function redirectUriProblem(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (uri.includes('#')) return 'must not have a fragment';
  if (u.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return 'must use https (http only for loopback)';
  if (u.protocol === 'javascript:' || u.protocol === 'data:' || u.protocol === 'file:') return 'has a forbidden scheme';
  if (u.username || u.password) return 'must not carry credentials';
  return undefined;
}

export interface OidcProviderDeps {
  db: Database;
  keys: KeyService;
  tenants: TenantService;
  publicUrl: string;
  baseDomain: string;
  secret: string;
  algorithm: string;
  logger: Logger;
}

/** The grant types, response types and auth method of an application, by its type. */
export function clientMetadata(row: ApplicationRow, secret: string | undefined) {
  const isPublic = row.type === 'spa' || row.type === 'native';
  // API resource scopes are not client metadata: the resource grants them (getResourceServerInfo)
  const scope = OIDC_SCOPES.join(' ');
  const base = {
    client_id: row.client_id,
    client_name: row.name,
    scope,
    'urn:gatehouse:first_party': row.first_party,
    'urn:gatehouse:application_id': row.id,
  };
  if (row.type === 'm2m') {
    return {
      ...base,
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: row.token_endpoint_auth_method,
      ...(row.jwks ? { jwks: row.jwks } : {}),
    };
  }
  const grants = ['authorization_code', 'refresh_token'];
  if (row.type === 'native' || row.type === 'web') grants.push('urn:ietf:params:oauth:grant-type:device_code');
  return {
    ...base,
    ...(isPublic ? {} : { client_secret: secret }),
    grant_types: grants,
    response_types: ['code'],
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    token_endpoint_auth_method: isPublic ? 'none' : row.token_endpoint_auth_method,
    application_type: row.type === 'native' ? 'native' : 'web',
    ...(row.jwks && !isPublic ? { jwks: row.jwks } : {}),
  };
}

/**
 * CSP of the provider's own answers (the gateway passes it on for /oidc/*): no script but
 * those oidc-provider hashes in; forms post to the provider itself or back to applications
 * (form_post, logout), which are https or loopback.
 */
const OIDC_CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; " +
  "form-action 'self' https: http://localhost:* http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'; base-uri 'none'";

/**
 * oidc-provider, imported when the first tenant's provider is built rather than when the auth
 * service loads: it is a whole Koa application (~26 MB of RSS and part of the start-up, see
 * bench/results/*-embedded-pglite.md), and a deployment that never serves /oidc never needs it.
 */
let oidcLibrary: Promise<typeof import('oidc-provider')> | undefined;
const loadOidcProvider = () => (oidcLibrary ??= import('oidc-provider'));

/** Reads a form body of at most 64 KiB (introspection and revocation requests are tiny). */
async function readSmallBody(req: IncomingMessage, oidcErrors: (typeof import('oidc-provider'))['errors']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 65_536) throw new oidcErrors.InvalidRequest('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Creates the per-tenant provider cache. */
export function createOidcProviders(deps: OidcProviderDeps) {
  const { db, keys, logger } = deps;
  const cookieKey = createHmac('sha256', deps.secret).update('oidc-cookies').digest('base64url');
  // A stable stand-in secret for a confidential client when the request presented none or a
  // wrong one: oidc-provider compares the presented secret with the client's, so it gets the
  // presented one only when its sha256 is the stored hash (secrets are never stored in clear).
  const placeholder = (clientId: string) => createHmac('sha256', deps.secret).update(`oidc-client-placeholder:${clientId}`).digest('base64url');
  const cache = new Map<string, { kid: string | undefined; built: Promise<Provider> }>();

  /** `<tenant origin>/oidc`: PUBLIC_URL for the default tenant, else `<scheme>://<slug>.<BASE_DOMAIN>[:port]`. */
  function issuerFor(tenant: Pick<Tenant, 'id' | 'slug'>): string {
    const pub = new URL(deps.publicUrl);
    if (tenant.id === DEFAULT_TENANT_ID) return `${pub.origin}${pub.pathname.replace(/\/$/, '')}/oidc`;
    return `${pub.protocol}//${tenant.slug}.${deps.baseDomain}${pub.port ? `:${pub.port}` : ''}/oidc`;
  }

  async function build(tenant: Tenant): Promise<Provider> {
    const { default: Provider, errors: oidcErrors } = await loadOidcProvider();
    const tenantId = tenant.id;
    const issuer = issuerFor(tenant);
    const jwks = { keys: await keys.signingJwks() };

    /** The adapter of one model (oidc-provider makes one per model name). */
    class PgAdapter implements Adapter {
      constructor(private readonly model: string) {}

      async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
        await db.withTenant(tenantId, (trx) => upsertPayload(trx, tenantId, this.model, id, payload, expiresIn));
      }

      async find(id: string): Promise<AdapterPayload | undefined> {
        if (this.model === 'Client') return findClient(id);
        return db.withTenantRead(tenantId, (trx) => findPayload(trx, this.model, 'id', id));
      }

      async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
        return db.withTenantRead(tenantId, (trx) => findPayload(trx, this.model, 'user_code', userCode));
      }

      async findByUid(uid: string): Promise<AdapterPayload | undefined> {
        return db.withTenantRead(tenantId, (trx) => findPayload(trx, this.model, 'uid', uid));
      }

      async consume(id: string): Promise<void> {
        await db.withTenant(tenantId, (trx) => consumePayload(trx, this.model, id));
      }

      async destroy(id: string): Promise<void> {
        await db.withTenant(tenantId, (trx) => destroyPayload(trx, this.model, id));
      }

      async revokeByGrantId(grantId: string): Promise<void> {
        await db.withTenant(tenantId, (trx) => destroyByGrant(trx, grantId));
      }
    }

    async function jtiOf(jwt: string): Promise<string | undefined> {
      try {
        const { payload } = await jwtVerify(jwt, keys.getKey, { issuer, typ: 'at+jwt' });
        return typeof payload.jti === 'string' ? payload.jti : undefined;
      } catch {
        return undefined;
      }
    }

    /** The Client model: the tenant's application, enabled, with the secret rule above. */
    async function findClient(clientId: string): Promise<AdapterPayload | undefined> {
      const row = await db.withTenantRead(tenantId, (trx) => findApplicationByClientId(trx, clientId));
      if (!row || row.disabled) return undefined;
      let secret: string | undefined;
      if (row.secret_hash) {
        const presented = presentedSecret(Provider.ctx);
        secret = presented && sameHash(hashClientSecret(presented), row.secret_hash) ? presented : placeholder(row.client_id);
      }
      return clientMetadata(row, secret);
    }

    /** The consent rule: first-party applications and remembered consents need no screen. */
    async function loadExistingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
      const clientId = ctx.oidc.client?.clientId;
      const accountId = ctx.oidc.session?.accountId;
      if (!clientId || !accountId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(clientId);
      if (grantId) {
        const existing = await provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const { app, consent } = await db.withTenant(tenantId, async (trx) => {
        const a = await findApplicationByClientId(trx, clientId);
        return { app: a, consent: a ? await findConsent(trx, accountId, a.id) : undefined };
      });
      if (!app) return undefined;
      const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
      const remembered = new Set(consent?.scopes ?? []);
      if (!app.first_party && !(consent && requested.every((s) => remembered.has(s)))) return undefined;
      const grant = new provider.Grant({ accountId, clientId });
      grantScopes(grant, requested, ctx.oidc.params?.resource);
      await grant.save();
      return grant;
    }

    const provider = new Provider(issuer, {
      adapter: PgAdapter,
      jwks,
      cookies: { keys: [cookieKey], long: { signed: true, sameSite: 'lax' }, short: { signed: true, sameSite: 'lax' } },
      clientDefaults: { id_token_signed_response_alg: deps.algorithm, grant_types: ['authorization_code'], response_types: ['code'] },
      enabledJWA: { idTokenSigningAlgValues: [deps.algorithm], clientAuthSigningAlgValues: ['RS256', 'ES256', 'EdDSA', 'PS256'] },
      responseTypes: ['code'],
      scopes: [...OIDC_SCOPES],
      claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
      acrValues: ['urn:gatehouse:loa:1', 'urn:gatehouse:loa:2'],
      ttl: TTL,
      rotateRefreshToken: true,
      pkce: { required: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod === 'none' },
      conformIdTokenClaims: false,
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        // a client introspects its own tokens (APIs verify JWT access tokens with the JWKS)
        introspection: { enabled: true, allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
        revocation: { enabled: true, allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
        deviceFlow: { enabled: true },
        pushedAuthorizationRequests: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          useGrantedResource: () => true,
          getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string, client: { clientId: string }) => {
            const { app, resource } = await db.withTenant(tenantId, async (trx) => ({
              app: await findApplicationByClientId(trx, client.clientId),
              resource: await findResourceByAudience(trx, resourceIndicator),
            }));
            if (!app || !resource || !app.resources.includes(resource.audience)) throw new oidcErrors.InvalidTarget();
            // the resource's scopes the application was allowed (all of them when it lists none)
            const scopes = (typeof resource.scopes === 'string' ? (JSON.parse(resource.scopes) as Array<{ name: string }>) : resource.scopes)
              .map((s) => s.name)
              .filter((s) => app.scopes.length === 0 || app.scopes.includes(s));
            return { scope: scopes.join(' '), audience: resource.audience, accessTokenTTL: TTL.AccessToken, accessTokenFormat: 'jwt', jwt: { sign: { alg: deps.algorithm } } };
          },
        },
      },
      formats: {
        customizers: {
          // JWT access tokens are not stored by oidc-provider, so introspection and revocation
          // could not see them; their model payload is stored under the jti here (find above).
          jwt: async (_ctx: unknown, token: { constructor: { IN_PAYLOAD: string[] }; jti: string; kind: string; exp?: number; iat?: number } & Record<string, unknown>) => {
            const payload: AdapterPayload = {};
            for (const key of token.constructor.IN_PAYLOAD) if (key !== 'format' && token[key] !== undefined) payload[key] = token[key];
            payload.iat ??= Math.floor(Date.now() / 1000);
            const exp = typeof token.exp === 'number' ? token.exp : Math.floor(Date.now() / 1000) + TTL.AccessToken;
            payload.exp = exp;
            await db.withTenant(tenantId, (trx) => upsertPayload(trx, tenantId, token.kind, token.jti, payload, Math.max(1, exp - Math.floor(Date.now() / 1000))));
          },
        },
      },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/oidc/interaction/${interaction.uid}` },
      loadExistingGrant,
      // the tenant, signed into every access token: the internal gRPC API scopes a machine
      // caller's answers to it (one key set signs every tenant's tokens; docs/grpc.md)
      extraTokenClaims: () => ({ tid: tenantId }),
      findAccount: async (_ctx: unknown, sub: string) => {
        const user = await db.withTenant(tenantId, (trx) => trx.selectFrom('users').selectAll().where('id', '=', sub).executeTakeFirst());
        if (!user || user.disabled_at) return undefined;
        return {
          accountId: sub,
          claims: async () => ({
            sub,
            email: user.email,
            email_verified: user.email_verified_at !== null,
            preferred_username: user.username ?? undefined,
            name: user.display_name ?? undefined,
          }),
        };
      },
      renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
        ctx.type = 'html';
        const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
        ctx.body = `<!doctype html><meta charset="utf-8"><title>Sign-in error</title><h1>Sign-in error</h1><p>${esc(out.error ?? 'error')}: ${esc(out.error_description ?? '')}</p>`;
      },
    });
    provider.proxy = true;
    // oidc-provider refuses JWT access tokens at introspection and revocation (RFC 9068 tokens
    // are meant to be verified locally); Gatehouse stores their payload under the jti (the
    // jwt customizer above), so a JWT of this issuer is swapped for its jti before the
    // provider parses the request, and both endpoints then work for it like for opaque tokens.
    provider.use(async (ctx: KoaContextWithOIDC & { method: string; path: string; status: number; body: unknown; type: string; set(name: string, value: string): void; is(type: string): string | false | null; req: IncomingMessage & { body?: unknown } }, next: () => Promise<void>) => {
      // oidc-provider adds the hashes of its pages' inline scripts (auto-submitting forms) to this
      ctx.set('content-security-policy', OIDC_CSP);
      if (ctx.method === 'POST' && (ctx.path === '/token/introspection' || ctx.path === '/token/revocation') && ctx.is('application/x-www-form-urlencoded')) {
        const params = new URLSearchParams(await readSmallBody(ctx.req, oidcErrors));
        const token = params.get('token');
        if (token && token.split('.').length === 3) {
          // another issuer's JWT (another tenant's, or forged) is simply unknown: active false
          params.set('token', (await jtiOf(token)) ?? 'not-a-token-of-this-issuer');
        }
        ctx.req.body = Object.fromEntries(params);
      }
      await next();
      // A path the provider does not know (Koa's bare "Not Found" text), e.g. an interaction
      // uid longer than the router's parameter limit that fell through to /oidc/*: the same
      // problem+json every other 404 of the API is.
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.type = 'application/problem+json';
        ctx.body = JSON.stringify({ type: 'urn:gatehouse:problem:not_found', title: 'Not Found', status: 404, detail: 'No such endpoint of the OpenID provider.', code: 'not_found' });
      }
    });
    // token_issued and grant_revoked through the outbox (ids only: never a token or secret).
    // The provider's events follow its own writes, so each is a unit of work of its own.
    const record = (type: 'oauth.events.token_issued' | 'oauth.events.grant_revoked', subject: string | undefined, data: Record<string, string | undefined>) => {
      db.withTenant(tenantId, (_trx, emit) => emit(oidcEvent(type, tenantId, subject, data))).catch((err: unknown) => logger.warn({ err, type }, 'oidc event not recorded'));
    };
    provider.on('grant.success', (ctx: { oidc: { client?: { clientId: string }; params?: Record<string, unknown>; entities?: Record<string, { accountId?: string; grantId?: string }> } }) => {
      const e = ctx.oidc.entities ?? {};
      const token = e.AccessToken ?? e.ClientCredentials;
      record('oauth.events.token_issued', token?.accountId, {
        clientId: ctx.oidc.client?.clientId,
        grantType: typeof ctx.oidc.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined,
        userId: token?.accountId,
        grantId: token?.grantId,
      });
    });
    provider.on('grant.revoked', (_ctx: unknown, grantId: string) => record('oauth.events.grant_revoked', undefined, { grantId, reason: 'provider' }));
    provider.on('grant.error', (_ctx: unknown, err: unknown) => logger.debug({ err, tenantId }, 'oidc grant error'));
    provider.on('server_error', (_ctx: unknown, err: unknown) => logger.error({ err, tenantId }, 'oidc provider error'));
    return provider;
  }

  return {
    issuerFor,

    /** The tenant's provider, rebuilt when the current signing key changed. */
    async forTenant(tenantId: string): Promise<Provider> {
      const kid = keys.currentKid();
      const hit = cache.get(tenantId);
      if (hit && hit.kid === kid) {
        // most recently used last: the bound below drops the least recently used tenant
        cache.delete(tenantId);
        cache.set(tenantId, hit);
        return hit.built;
      }
      const tenant = await deps.tenants.requireActive(tenantId);
      const built = build(tenant);
      cache.set(tenantId, { kid, built });
      // a Provider is a whole Koa app: keep at most MAX_CACHED_PROVIDERS tenants' in memory
      if (cache.size > MAX_CACHED_PROVIDERS) cache.delete(cache.keys().next().value!);
      built.catch(() => cache.delete(tenantId));
      return built;
    },
  };
}
export type OidcProviders = ReturnType<typeof createOidcProviders>;

/** Adds the requested scopes to a grant: OpenID scopes, and a resource's scopes for it. */
export function grantScopes(grant: Grant, requested: string[], resource: unknown): void {
  const oidc = requested.filter((s) => (OIDC_SCOPES as readonly string[]).includes(s));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  const rest = requested.filter((s) => !(OIDC_SCOPES as readonly string[]).includes(s));
  const resources = Array.isArray(resource) ? resource : resource ? [resource] : [];
  for (const r of resources) if (typeof r === 'string' && rest.length) grant.addResourceScope(r, rest.join(' '));
}

/** For the IncomingMessage of the routes: the path below the mount, original kept (oidc-provider reads both). */
export function mountBelow(req: IncomingMessage & { originalUrl?: string }, prefix: string): void {
  const url = req.url ?? '/';
  req.originalUrl = url;
  const rest = url.slice(prefix.length);
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
}
