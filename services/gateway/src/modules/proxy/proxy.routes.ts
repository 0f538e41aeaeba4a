/**
 * The forwarded routes: for each entry of PROXY_ROUTES, path check → credential limit →
 * tenant → token → per-user limit → @fastify/reply-from to the owning service (undici, one
 * keep-alive pool per service, bounded timeouts so a stuck service answers 504, never a hang).
 */
import replyFrom from '@fastify/reply-from';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem, type HttpApp } from '@gatehouse/platform';
import type { Limits } from '../limits/limits.hooks';
import type { TenantResolver } from '../tenancy/tenancy.hooks';
import type { TokenGuard } from '../tokens/tokens.service';
import { proxyErrors } from './proxy.errors';
import {
  PROXY_ROUTES,
  clientResponseHeaders,
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
}

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

/** Registers the proxy routes in their own scope (bodies stream through unparsed). */
export async function proxyRoutes(app: HttpApp, opts: ProxyRoutesOptions) {
  const timeouts = { connectMs: 5000, headersMs: 30_000, bodyMs: 60_000, ...opts.timeouts };
  await app.register(replyFrom, {
    undici: {
      connections: 128,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      connect: { timeout: timeouts.connectMs },
    },
    disableRequestLogging: true,
  });

  // Bodies are forwarded as they arrive: the service parses and limits them itself (JSON at
  // its body limit, avatars as multipart), so the gateway neither buffers nor re-encodes them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  for (const route of PROXY_ROUTES) {
    const base = opts.serviceUrls[route.area]?.replace(/\/$/, '');
    const onRequest = [
      async (req: FastifyRequest) => {
        safePath(req.url);
        if (!base) throw proxyErrors.serviceUnavailable(route.area);
      },
      opts.limits.credentials,
    ];
    if (route.tenant) {
      onRequest.push(async (req: FastifyRequest) => {
        req.tenant = await opts.tenantFor(req);
        const claims = await opts.tokens.check(req, req.tenant);
        if (claims) req.auth = claims;
      });
      onRequest.push(opts.limits.user);
    }

    app.route({
      method: [...METHODS],
      url: route.url,
      // The merged OpenAPI document describes these paths (from each service's own schemas).
      schema: { hide: true, tags: ['gateway'], summary: `Forwarded to the ${route.area} service` },
      exposeHeadRoute: false,
      onRequest,
      handler: (req: FastifyRequest, reply: FastifyReply) => {
        const path = safePath(req.url);
        return reply.from(`${base}${path}`, {
          rewriteRequestHeaders: (r, headers) => upstreamRequestHeaders(r as FastifyRequest, headers) as typeof headers,
          rewriteHeaders: (headers) => clientResponseHeaders(headers) as typeof headers,
          // No automatic retries: a POST must never be sent twice, and a GET that failed is
          // better answered at once than after seconds of waiting.
          retryDelay: () => null,
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
