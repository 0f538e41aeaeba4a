/**
 * The gateway's Fastify app: the only public port. Order of work on a request:
 * request id → per-IP limit → security headers → CORS → (proxied routes) path check →
 * credential limit → tenant → token → per-user limit → the owning service.
 */
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { createHttpApp, problem, statusTitle, type HttpApp } from '@gatehouse/platform';
import type { GatewayDeps } from './deps';
import { consoleRoutes } from './modules/console/console.routes';
import { pageCsp } from './modules/console/console.pages';
import { docsRoutes } from './modules/docs/docs.routes';
import { registerLimits } from './modules/limits/limits.hooks';
import { proxyRoutes } from './modules/proxy/proxy.routes';
import { isTenantScoped } from './modules/proxy/proxy.service';
import { registerSecurity } from './modules/security/security.hooks';
import { createTenantResolver } from './modules/tenancy/tenancy.hooks';
import { upstreamReadiness } from './modules/system/system.readiness';
import { systemRoutes } from './modules/system/system.routes';
import { createSystemService } from './modules/system/system.service';

/** Builds the gateway app; `deps.start()` is the caller's (service.ts). */
export async function buildApp(deps: GatewayDeps): Promise<HttpApp> {
  const { config, shared, tenancy } = deps;
  const ownChecks = { kv: () => shared.kv.ping(), transport: () => shared.transport.ping() };
  const app = await createHttpApp({
    name: 'gateway',
    logger: shared.logger,
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    registry: shared.registry,
    readiness: { ...upstreamReadiness(config.serviceUrls), ...ownChecks },
  });
  const system = createSystemService({ serviceUrls: config.serviceUrls, registry: app.metricsRegistry, ownChecks });
  await system.start();
  app.addHook('onClose', async () => system.stop());
  answerClientErrorsWithProblems(app);

  // Before any other route: @fastify/swagger collects routes as they are added.
  await docsRoutes(app, { docs: deps.docs });
  await consoleRoutes(app);

  const limits = await registerLimits(app, {
    rateLimits: config.rateLimits,
    redis: shared.kv.redis,
    namespace: deps.options.rateLimitNamespace,
  });
  const tenantFor = createTenantResolver(tenancy);

  // The per-IP limit is counted first (so an abusive client triggers no tenant lookup) but
  // answered after CORS, so a browser app can read its 429 and Retry-After.
  const overLimit = new WeakMap<FastifyRequest, unknown>();
  app.addHook('onRequest', async (req, reply) => {
    try {
      await limits.ip(req, reply);
    } catch (err) {
      overLimit.set(req, err);
    }
  });
  await registerSecurity(app, {
    corsOrigins: config.corsOrigins,
    pageCsp,
    tenantScoped: isTenantScoped,
    tenantFor,
    cachedTenant: (req) => {
      try {
        return tenancy.peek(tenancy.slugFor(req.hostname, req.headers['x-tenant']));
      } catch {
        return undefined;
      }
    },
    overLimit: (req) => overLimit.has(req),
  });
  app.addHook('onRequest', async (req) => {
    if (overLimit.has(req)) throw overLimit.get(req);
  });

  systemRoutes(app, { system, tenantFor, tokens: deps.tokens });
  await app.register(proxyRoutes, {
    serviceUrls: config.serviceUrls,
    limits,
    tenantFor,
    tokens: deps.tokens,
    timeouts: deps.options.upstreamTimeouts,
  });
  return app;
}

/**
 * Node answers requests it cannot parse (oversized headers, malformed request lines) before
 * Fastify sees them; Fastify's default handler sends a plain JSON body. The gateway is the
 * public port, so those answers are problem+json like every other error.
 */
function answerClientErrorsWithProblems(app: HttpApp) {
  app.server.removeAllListeners('clientError');
  app.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, detail] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'The request headers are too large.']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout', 'The request took too long to arrive.']
          : [400, 'bad_request', 'The request could not be parsed.'];
    const body = JSON.stringify(problem(code, status, detail));
    socket.end(
      `HTTP/1.1 ${status} ${statusTitle(status)}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
