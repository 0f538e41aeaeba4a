/**
 * Browser-facing protections of the gateway: security headers (helmet's, plus a CSP chosen
 * per kind of page and HSTS only off localhost) and CORS (@fastify/cors) with an allow-list
 * made of `CORS_ORIGINS` and the resolved tenant's `settings.allowedOrigins`.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import cors from '@fastify/cors';
import type { FastifyRequest } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { HttpApp } from '@gatehouse/platform';
import { isLocalHost, normalizeHost, normalizeOrigin } from '../tenancy/tenancy.service';
import type { Tenant } from '../tenancy/tenancy.schemas';

/** CSP of every API answer: JSON is never a document, so nothing may load and nothing may frame it. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * CSP of the /docs reference page: its scripts and styles come from the gateway itself
 * (@fastify/swagger-ui ships them; nothing from a CDN). Swagger UI sets inline style
 * attributes, hence 'unsafe-inline' for styles only; scripts stay 'self'.
 */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** HSTS value sent on every answer to a host that is not loopback. */
export const HSTS = 'max-age=31536000; includeSubDomains';

/** Headers browsers may read from cross-origin answers. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
  'www-authenticate',
  'location',
  'content-disposition',
];

export interface SecurityOptions {
  /** `CORS_ORIGINS`; a `*` entry allows any origin, but never with credentials */
  corsOrigins: string[];
  /** CSP per path prefix, checked before the API default (e.g. `/docs`, and `/` exactly) */
  pageCsp: (path: string) => string | undefined;
  /** whether a path is tenant-scoped, so the tenant's own origins count */
  tenantScoped: (path: string) => boolean;
  /** the request's tenant (looked up once per request) */
  tenantFor: (req: FastifyRequest) => Promise<Tenant>;
  /** the cached tenant without a lookup (used for requests already over their rate limit) */
  cachedTenant: (req: FastifyRequest) => Tenant | undefined;
  /** true when the request is over a limit: no tenant lookup is done for it */
  overLimit: (req: FastifyRequest) => boolean;
}

/** helmet's options for every answer of the gateway. */
const HELMET: HelmetOptions = {
  // Set per kind of page (registerSecurity); helmet's single policy cannot tell API from docs.
  contentSecurityPolicy: false,
  // Set only off localhost: HSTS on localhost would pin every local dev server to https.
  strictTransportSecurity: false,
  xFrameOptions: { action: 'deny' },
  // Avatars and other files are embedded by tenant apps on sibling subdomains.
  crossOriginResourcePolicy: { policy: 'same-site' },
};

/**
 * The headers helmet's middleware sets with `options`, read once from a response it is run
 * on. With these options they do not depend on the request, so each answer gets the same
 * object instead of a helmet run: @fastify/helmet built a new helmet middleware from the
 * options on every request and set each header on the raw response, ~3% of the gateway's CPU
 * on a proxied GET (issue 13).
 */
export function helmetHeaders(options: HelmetOptions = HELMET): Record<string, string> {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  helmet(options)(res.req, res, (err?: unknown) => {
    if (err) throw err;
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.getHeaders())) if (value !== undefined) headers[name] = String(value);
  return headers;
}

/** Sets helmet's headers, the CSP/HSTS and CORS on every answer of the root app. */
export async function registerSecurity(app: HttpApp, opts: SecurityOptions) {
  const security = helmetHeaders();
  app.addHook('onRequest', (req, reply, done) => {
    const path = req.url.split('?', 1)[0] ?? '/';
    reply.headers(security);
    reply.header('content-security-policy', opts.pageCsp(path) ?? API_CSP);
    if (!isLocalHost(normalizeHost(req.hostname))) reply.header('strict-transport-security', HSTS);
    done();
  });

  const globalOrigins = new Set(opts.corsOrigins.map(normalizeOrigin).filter((o): o is string => o !== undefined));
  const anyOrigin = globalOrigins.delete('*');
  const base = {
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    // Preflights without the CORS headers fall through to the 404 problem, not a text/plain 400.
    strictPreflight: false,
  };

  await app.register(cors, {
    hook: 'onRequest',
    hideOptionsRoute: true,
    delegator: async (req: FastifyRequest) => {
      const origin = normalizeOrigin(req.headers.origin);
      if (!origin || origin === '*') return { ...base, origin: false };
      if (globalOrigins.has(origin)) return { ...base, origin: true, credentials: true };
      const path = req.url.split('?', 1)[0] ?? '/';
      if (opts.tenantScoped(path)) {
        const tenant = opts.overLimit(req) ? opts.cachedTenant(req) : await opts.tenantFor(req).catch(() => undefined);
        if (tenant?.allowedOrigins.includes(origin)) return { ...base, origin: true, credentials: true };
      }
      // A wildcard in CORS_ORIGINS lets any origin read public answers, never with credentials.
      if (anyOrigin) return { ...base, origin: '*', credentials: false };
      return { ...base, origin: false };
    },
  });
}
