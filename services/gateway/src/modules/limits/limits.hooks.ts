/**
 * Rate limits at the gateway, with @fastify/rate-limit's stores (Redis when the process has
 * one, so every replica shares the counters; its in-memory LRU otherwise):
 *
 * - per client IP on every route except /healthz, /readyz and /metrics (`RATE_LIMIT_IP_*`);
 * - per client IP on credential endpoints, stricter (`RATE_LIMIT_CREDENTIALS_*`);
 * - per verified user (`tid` + `sub`) on proxied routes (`RATE_LIMIT_USER_*`).
 *
 * `max: 0` turns a limit off. Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` of the tightest limit that applied, and a 429 `rate_limited` problem with
 * `Retry-After` when one is exceeded. When Redis fails the limiter lets traffic through
 * (skipOnError): availability first here; credential throttling proper lives in auth and
 * fails closed.
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { counter } from '@gatehouse/platform/metrics';
import { withoutSpans } from '@gatehouse/platform/tracing';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { errors, type HttpApp, type RateLimitSetting } from '@gatehouse/platform';

/** POST endpoints that take a credential or a credential-equivalent token (API.md "Auth"). */
export const CREDENTIAL_PATHS = new Set(
  [
    'login',
    'login/mfa',
    'register',
    'refresh',
    'password/forgot',
    'password/reset',
    'email/verify',
    'passkeys/login/options',
    'passkeys/login/verify',
    'oauth/exchange',
  ].map((p) => `/api/v1/auth/${p}`),
);

/** Operations endpoints an orchestrator polls; limiting them would make a healthy gateway look dead. */
export const UNLIMITED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The path a service routes: without query string and trailing slashes, and %-decoded, as
 * the services' router decodes it (`/auth/%6Cogin` is routed as `/auth/login`, so it must be
 * counted as one). A malformed escape is left as it is: the proxy's path check refuses it.
 */
export function requestPath(url: string): string {
  const q = url.indexOf('?');
  let path = q >= 0 ? url.slice(0, q) : url;
  try {
    path = decodeURIComponent(path);
  } catch {
    // malformed escape: answered 400 by safePath before anything is forwarded
  }
  return path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
}

/** True for a POST to one of {@link CREDENTIAL_PATHS}. */
export function isCredentialRequest(method: string, url: string): boolean {
  return method === 'POST' && CREDENTIAL_PATHS.has(requestPath(url));
}

export interface LimitsOptions {
  rateLimits: { ip: RateLimitSetting; user: RateLimitSetting; credentials: RateLimitSetting };
  /** shared counters; unset: in-memory per process */
  redis?: Redis;
  /** key namespace in Redis (default `gatehouse:rl:`) */
  namespace?: string;
}

type Limiter = (req: FastifyRequest) => Promise<
  | { isAllowed: true; key: string }
  | { isAllowed: false; key: string; max: number; remaining: number; ttlInSeconds: number; isExceeded: boolean }
>;

const shown = new WeakMap<FastifyRequest, number>();

/**
 * Registers the plugin (without its global hook: several limits apply to one request, and
 * the plugin's own hook runs only the first) and returns one hook per limit.
 */
export async function registerLimits(app: HttpApp, opts: LimitsOptions) {
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    skipOnError: true,
    redis: opts.redis,
    nameSpace: opts.namespace ?? 'gatehouse:rl:',
  });
  const rejected = counter(app.metricsRegistry, 'gatehouse_gateway_rate_limited_total', 'Requests the gateway refused with 429, by limit (ip, credentials, user)', ['limit']);

  function make(setting: RateLimitSetting, prefix: string, key: (req: FastifyRequest) => string | undefined) {
    if (setting.max <= 0) return undefined;
    const limit = prefix.slice(0, -1);
    rejected.inc({ limit }, 0);
    const limiter = app.createRateLimit({
      max: setting.max,
      timeWindow: setting.windowMs,
      // Every limiter shares the store's key space, so each key names its limit.
      keyGenerator: (req) => prefix + (key(req) ?? ''),
    }) as Limiter;
    return async (req: FastifyRequest, reply: FastifyReply) => {
      if (key(req) === undefined) return;
      // no Redis span per counter (an EVALSHA per limit per request): a 429 shows as the status
      // of the request's own span (tracing.ts, withoutSpans)
      const r = await withoutSpans(() => limiter(req));
      if (r.isAllowed) return;
      // Show the limit closest to running out, so a client backs off for the right one.
      const prev = shown.get(req);
      if (prev === undefined || r.remaining <= prev || r.isExceeded) {
        shown.set(req, r.isExceeded ? -1 : r.remaining);
        reply.header('ratelimit-limit', r.max);
        reply.header('ratelimit-remaining', r.isExceeded ? 0 : r.remaining);
        reply.header('ratelimit-reset', r.ttlInSeconds);
      }
      if (r.isExceeded) {
        rejected.inc({ limit });
        throw errors.rateLimited(r.ttlInSeconds);
      }
    };
  }

  const ip = make(opts.rateLimits.ip, 'ip:', (req) => normalizeIP(req.ip ?? ''));
  const credentials = make(opts.rateLimits.credentials, 'cred:', (req) =>
    isCredentialRequest(req.method, req.url) ? normalizeIP(req.ip ?? '') : undefined,
  );
  const user = make(opts.rateLimits.user, 'user:', (req) => (req.auth ? `${req.auth.tid}:${req.auth.sub}` : undefined));

  return {
    /**
     * app-wide onRequest hook: per client IP, operations endpoints excepted. Undefined when
     * nothing is counted (the limit off, an operations path): no promise on that path.
     */
    ip(req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
      if (!ip || UNLIMITED_PATHS.has(requestPath(req.url))) return undefined;
      return ip(req, reply);
    },
    /** per client IP on credential endpoints */
    /** per client IP on credential endpoints; undefined when that limit is off (no hook to run) */
    credentials,
    /** per verified user, after the token check; undefined when that limit is off */
    user,
  };
}
export type Limits = Awaited<ReturnType<typeof registerLimits>>;
