/**
 * What the gateway forwards, where, and with which headers. Pure functions over the route
 * table; proxy.routes.ts wires them to @fastify/reply-from.
 */
import type { FastifyRequest } from 'fastify';
import { TENANT_HEADER, TENANT_SLUG_HEADER } from '@gatehouse/platform';
import { proxyErrors } from './proxy.errors';

/** A service the gateway forwards to. */
export type Area = 'auth' | 'users' | 'audit';

/** One forwarded route: Fastify URL pattern, owning service, whether a tenant is resolved for it. */
export interface ProxyRoute {
  url: string;
  area: Area;
  tenant: boolean;
  /** its own body limit in bytes; otherwise BODY_LIMIT_BYTES */
  bodyLimit?: number;
  /**
   * false: an Authorization header is not a Gatehouse access token here and is forwarded
   * unchecked (the OpenID provider's endpoints: Basic client authentication, its own bearer
   * tokens at userinfo); the service checks it.
   */
  gatewayToken?: false;
}

/** The avatar upload: the users service's 2 MiB file limit plus room for the multipart framing. */
export const AVATAR_BODY_LIMIT = 2 * 1024 * 1024 + 64 * 1024;

/**
 * The public surface (API.md). Everything else, `/internal/*` included, is never forwarded.
 * Paths are forwarded unchanged.
 */
export const PROXY_ROUTES: ProxyRoute[] = [
  { url: '/api/v1/auth/*', area: 'auth', tenant: true },
  { url: '/api/v1/admin/*', area: 'auth', tenant: true },
  { url: '/api/v1/users/me/avatar', area: 'users', tenant: true, bodyLimit: AVATAR_BODY_LIMIT },
  { url: '/api/v1/users*', area: 'users', tenant: true },
  { url: '/api/v1/events*', area: 'users', tenant: true },
  { url: '/api/v1/audit*', area: 'audit', tenant: true },
  { url: '/api/v1/social-logs*', area: 'audit', tenant: true },
  // The OpenID provider of the tenant (issue 11): hosted-login steps carry Gatehouse access
  // tokens (checked like the API's); the protocol endpoints carry the provider's own.
  { url: '/oidc/interaction/*', area: 'auth', tenant: true },
  { url: '/oidc/*', area: 'auth', tenant: true, gatewayToken: false },
  // Public keys are the same for every tenant: no tenant lookup.
  { url: '/.well-known/jwks.json', area: 'auth', tenant: false },
];

/** The route a path (no query string) belongs to, matching like the Fastify patterns above. */
export function routeForPath(path: string): ProxyRoute | undefined {
  return PROXY_ROUTES.find((r) => (r.url.endsWith('*') ? path.startsWith(r.url.slice(0, -1)) : path === r.url));
}

/** True for paths whose answers depend on the tenant (CORS consults the tenant's origins). */
export function isTenantScoped(path: string): boolean {
  return routeForPath(path)?.tenant ?? false;
}

/** Paths made only of non-empty segments of unreserved and sub-delim characters: nothing to decode or refuse. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~!$&'()*+,;=:@-]+)+\/?$/;

/**
 * Checks a raw request target before it is forwarded. Upstream URLs are built with the URL
 * parser, which resolves dot segments: `/api/v1/users/../../internal/x` would reach
 * `/internal/x` on the users service. So dot segments (plain or %-encoded), backslashes, empty
 * segments, control characters and malformed escapes are refused here with a 400.
 * Returns the path without the query string.
 */
export function safePath(url: string): string {
  if (!url.startsWith('/')) throw proxyErrors.badPath();
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  // the common case at once: segments of unreserved and sub-delim characters only (no '%' to
  // decode, no '.', no '\\', no control character, no empty segment)
  if (PLAIN_PATH.test(path)) return path;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw proxyErrors.badPath();
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\\\u0000-\u001f\u007f]/.test(decoded) || decoded.includes('//')) throw proxyErrors.badPath();
  for (const segment of decoded.split('/')) {
    if (segment === '.' || segment === '..') throw proxyErrors.badPath();
  }
  return path;
}

/** Request headers that describe one connection, never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Client headers the gateway replaces with its own view: forwarding info and tenant selection. */
const REPLACED = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'x-tenant', 'x-request-id']);

type Headers = Record<string, string | string[] | undefined>;

/**
 * The headers a service receives: the client's, less hop-by-hop, internal (`x-gatehouse-*`)
 * and forwarding headers, plus the gateway's own: the request id, the resolved tenant, and
 * X-Forwarded-For/-Proto/-Host. X-Forwarded-For carries the one client address the gateway
 * determined (the socket peer, or what a proxy in TRUST_PROXY reported), so a service that
 * trusts the gateway reads the client address without trusting anything further. `trace`, the
 * request's trace headers (tracing.ts, forwardingHeaders), replaces the client's.
 */
export function upstreamRequestHeaders(req: FastifyRequest, headers: Headers, trace?: Record<string, string>): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (HOP_BY_HOP.has(key) || REPLACED.has(key) || key.startsWith('x-gatehouse-')) continue;
    out[key] = value;
  }
  out['x-request-id'] = String(req.id);
  out['x-forwarded-for'] = req.ip;
  out['x-forwarded-proto'] = req.protocol;
  if (req.host) out['x-forwarded-host'] = req.host;
  if (req.tenant) {
    out[TENANT_HEADER] = req.tenant.id;
    out[TENANT_SLUG_HEADER] = req.tenant.slug;
  }
  // Traced (`trace`, tracing.ts forwardingHeaders): the client's traceparent was continued by
  // the gateway's own span, whose context replaces it (a second header would make both
  // unreadable). Not traced: the client's goes through, so a traced service still continues
  // the client's trace.
  if (trace) {
    delete out.traceparent;
    delete out.tracestate;
    Object.assign(out, trace);
  }
  // A GET or HEAD body is never forwarded, so its length must not be either.
  if (req.method === 'GET' || req.method === 'HEAD') delete out['content-length'];
  return out;
}

/**
 * Response headers the gateway owns: security headers and CORS are the gateway's policy, so
 * a service cannot loosen them; connection headers belong to the upstream connection.
 */
const GATEWAY_OWNED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'proxy-connection',
  'upgrade',
  'content-security-policy',
  'strict-transport-security',
  'x-frame-options',
  'x-content-type-options',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
  'x-request-id',
]);

/**
 * The headers a client receives from a service's answer. `keepCsp`: the service's own
 * Content-Security-Policy replaces the gateway's (the OpenID provider's pages carry the
 * hashes of their inline scripts in it).
 */
export function clientResponseHeaders(headers: Headers, o: { keepCsp?: boolean } = {}): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (o.keepCsp && key === 'content-security-policy') {
      out[key] = value;
      continue;
    }
    if (GATEWAY_OWNED.has(key) || key.startsWith('x-gatehouse-')) continue;
    out[key] = value;
  }
  return out;
}

/** Methods whose request may be sent twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Whether a forwarded request that failed before any byte of an answer may be sent again at
 * once (undici takes a new connection for it):
 * - the connection was refused (ECONNREFUSED, e.g. a replica that stopped listening during a
 *   restart, behind a Service or a balancer that sends the next attempt elsewhere): the request
 *   never left the gateway, so any method;
 * - the socket was reset or closed under the request (ECONNRESET, undici's UND_ERR_SOCKET: a
 *   kept-alive connection the other side closed just as the request was written, e.g. nginx
 *   reloading or a server closing idle connections): the request may have been read, so only
 *   idempotent methods. A POST/PATCH on such a socket is answered 502 rather than risk being
 *   applied twice.
 * Timeouts are never retried (the request may still be running upstream).
 */
export function retryOnFreshConnection(method: string, error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  const codes = [e?.code, e?.cause?.code];
  if (codes.includes('ECONNREFUSED')) return true;
  return IDEMPOTENT.has(method) && codes.some((c) => c === 'ECONNRESET' || c === 'UND_ERR_SOCKET' || c === 'EPIPE');
}

/** Upstream failure → status: refused or unresolvable 503, timed out 504, anything else 502. */
export function upstreamFailureStatus(error: unknown): 502 | 503 | 504 {
  const e = error as { code?: string; statusCode?: number; cause?: { code?: string } } | undefined;
  const codes = [e?.code, e?.cause?.code];
  if (codes.some((c) => c === 'ECONNREFUSED' || c === 'ENOTFOUND' || c === 'EAI_AGAIN' || c === 'FST_REPLY_FROM_SERVICE_UNAVAILABLE')) return 503;
  if (e?.statusCode === 504 || codes.some((c) => c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT')) return 504;
  return 502;
}
