/**
 * The forwarded routes: for each entry of PROXY_ROUTES, path check → credential limit →
 * tenant → token → per-user limit → body read whole → @fastify/reply-from to the owning
 * service (undici: a keep-alive pool per service for reads, a new connection per write, see
 * proxy.dispatcher.ts; bounded timeouts so a stuck service answers 504, never a hang).
 */
import replyFrom, { type FastifyReplyFromOptions } from '@fastify/reply-from';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { sendProblem, type HttpApp } from '@gatehouse/platform';
import { forwardingHeaders } from '@gatehouse/platform/tracing';
import type { Limits } from '../limits/limits.hooks';
import type { TenantResolver } from '../tenancy/tenancy.hooks';
import type { TokenGuard } from '../tokens/tokens.service';
import { OVERSIZED, readWholeBody } from './proxy.body';
import { createUpstreamDispatcher } from './proxy.dispatcher';
import { proxyErrors } from './proxy.errors';
import type { UpstreamLoad } from './proxy.load';
import {
  PROXY_ROUTES,
  clientResponseHeaders,
  retryOnFreshConnection,
  safePath,
  upstreamFailureStatus,
  upstreamRequestHeaders,
  type Area,
} from './proxy.service';

export interface ProxyRoutesOptions {
  /** base URL per service; an area whose service is unset answers 503 `service_unavailable` */
  serviceUrls: Partial<Record<Area, string>>;
  limits: Limits;
  tenantFor: TenantResolver;
  tokens: TokenGuard;
  /** upstream timeouts in ms (defaults: connect 5000, headers 30000, body 60000) */
  timeouts?: { connectMs?: number; headersMs?: number; bodyMs?: number };
  /** body limit in bytes of routes without their own (BODY_LIMIT_BYTES) */
  bodyLimit: number;
  /** false: POST/PATCH/LOCK use the kept-alive pool too (proxy.dispatcher.ts; default true) */
  writesOnNewConnection?: boolean;
  /** counts forwarded requests per service; its `connections` is the pool size per service */
  load: UpstreamLoad;
}

/** An undici dispatcher as reply-from's types describe it. */
type ReplyFromUndici = Extract<NonNullable<FastifyReplyFromOptions['undici']>, { request: unknown }>;

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

/** How long an idle upstream connection is kept (see the pool options below). */
export const UPSTREAM_KEEPALIVE_MS = 4000;

/** Registers the proxy routes in their own scope (bodies are read whole, then forwarded unparsed). */
export async function proxyRoutes(app: HttpApp, opts: ProxyRoutesOptions) {
  const timeouts = { connectMs: 5000, headersMs: 30_000, bodyMs: 60_000, ...opts.timeouts };
  // Writes on a new connection each, the rest on kept-alive pools (proxy.dispatcher.ts).
  const upstream = createUpstreamDispatcher({
    connections: opts.load.connections,
    keepAliveMs: UPSTREAM_KEEPALIVE_MS,
    headersTimeoutMs: timeouts.headersMs,
    bodyTimeoutMs: timeouts.bodyMs,
    connectTimeoutMs: timeouts.connectMs,
    writesOnNewConnection: opts.writesOnNewConnection,
  });
  await app.register(replyFrom, {
    // reply-from's types are those of its own undici (7), the dispatcher is the project's undici
    // (8); reply-from only calls `request(options, callback)`, the same API in both, and
    // `destroy()` on close. TypeScript sees two copies of the Dispatcher types, hence the cast.
    undici: upstream as unknown as ReplyFromUndici,
    disableRequestLogging: true,
  });

  // Every body is read whole here, under the route's limit, before an upstream connection is
  // taken: a client sending slowly then holds only its own socket (until REQUEST_TIMEOUT_SEC),
  // never one of the pool's connections, and an oversized body is a 413 here, never a
  // half-sent upstream request. Bodies are small (JSON at BODY_LIMIT_BYTES, one avatar at
  // ~2 MiB) and forwarded as they came, unparsed; the service parses and validates them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', readWholeBody);

  for (const route of PROXY_ROUTES) {
    const base = opts.serviceUrls[route.area]?.replace(/\/$/, '');
    // a limit that is off adds no hook; the path check is callback-style (platform http.ts says why)
    const onRequest: onRequestHookHandler[] = [
      (req, _reply, done) => {
        try {
          safePath(req.url);
        } catch (err) {
          return done(err instanceof Error ? err : proxyErrors.badPath());
        }
        done(base ? undefined : proxyErrors.serviceUnavailable(route.area));
      },
    ];
    if (opts.limits.credentials) onRequest.push(opts.limits.credentials);
    if (route.tenant) {
      const resolve = async (req: FastifyRequest) => {
        req.tenant = await opts.tenantFor(req);
        if (route.gatewayToken === false) return;
        const claims = await opts.tokens.check(req, req.tenant);
        if (claims) req.auth = claims;
      };
      // A cached tenant and an already verified token (the common case) are taken without a
      // promise; anything else goes through the lookups above.
      onRequest.push((req, _reply, done) => {
        try {
          const tenant = opts.tenantFor.cached(req);
          if (tenant) {
            const now = route.gatewayToken === false ? { claims: undefined } : opts.tokens.checkNow(req, tenant);
            if (now) {
              req.tenant = tenant;
              if (now.claims) req.auth = now.claims;
              return done();
            }
          }
        } catch (err) {
          return done(err instanceof Error ? err : new Error(String(err)));
        }
        resolve(req).then(
          () => done(),
          (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
        );
      });
      if (opts.limits.user) onRequest.push(opts.limits.user);
    }

    app.route({
      method: [...METHODS],
      url: route.url,
      // The merged OpenAPI document describes these paths (from each service's own schemas).
      schema: { hide: true, tags: ['gateway'], summary: `Forwarded to the ${route.area} service` },
      exposeHeadRoute: false,
      bodyLimit: route.bodyLimit ?? opts.bodyLimit,
      onRequest,
      handler: (req: FastifyRequest, reply: FastifyReply) => {
        const path = safePath(req.url);
        if (req.body === OVERSIZED) throw proxyErrors.payloadTooLarge();
        opts.load.track(route.area, reply);
        // the bytes as received (reply-from would JSON-encode a Buffer body of a JSON request)
        const body = Buffer.isBuffer(req.body) ? { body: req.body, contentType: req.headers['content-type'] ?? 'application/octet-stream' } : {};
        const target = `${base}${path}`;
        // traced: the gateway's SERVER span goes to the service as its parent (no CLIENT span of
        // the forwarding), or the sampler's "not recorded" when it dropped the request
        // (tracing.ts, forwardingHeaders); not traced: undefined, nothing added
        const trace = forwardingHeaders(req.raw);
        return reply.from(target, {
          ...body,
          rewriteRequestHeaders: (r, headers) => upstreamRequestHeaders(r as FastifyRequest, headers, trace) as typeof headers,
          rewriteHeaders: (headers) => clientResponseHeaders(headers, { keepCsp: route.gatewayToken === false }) as typeof headers,
          onResponse: (_r, rep, res) => {
            void rep.send(res.stream);
          },
          // One immediate retry, on a new connection, only when the request cannot have been
          // applied twice (retryOnFreshConnection): never a second attempt after an answer began.
          retriesCount: 1,
          retryDelay: ({ err, res, attempt }) => (!res && attempt === 0 && retryOnFreshConnection(req.method, err) ? 1 : null),
          onError: (rep, { error }) => {
            const status = upstreamFailureStatus(error);
            req.log.warn({ err: error, area: route.area, status }, 'upstream request failed');
            const e = proxyErrors.upstreamUnavailable(route.area, status);
            void sendProblem(rep as FastifyReply, e.status, e.code, e.detail ?? e.message, undefined, e.headers);
          },
        });
      },
    });
  }
}
