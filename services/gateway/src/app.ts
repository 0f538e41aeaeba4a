/**
 * The gateway's Fastify app: the only public port. Order of work on a request:
 * request id → in-flight cap and per-IP limit → security headers → CORS → (proxied routes)
 * path check → credential limit → tenant → token → per-user limit → body read whole → the
 * owning service.
 */
import type { FastifyRequest } from 'fastify';
import { createHttpApp, type Config, type HttpApp, type ServerLimits } from '@gatehouse/platform';
import type { GatewayDeps } from './deps';
import { consoleRoutes } from './modules/console/console.routes';
import { pageCsp } from './modules/console/console.pages';
import { docsRoutes } from './modules/docs/docs.routes';
import { registerLimits } from './modules/limits/limits.hooks';
import { createInFlightCap } from './modules/limits/limits.inflight';
import { createUpstreamLoad } from './modules/proxy/proxy.load';
import { proxyRoutes } from './modules/proxy/proxy.routes';
import { isTenantScoped } from './modules/proxy/proxy.service';
import { registerSecurity } from './modules/security/security.hooks';
import { createTenantResolver } from './modules/tenancy/tenancy.hooks';
import { upstreamReadiness } from './modules/system/system.readiness';
import { systemRoutes } from './modules/system/system.routes';
import { createSystemService } from './modules/system/system.service';

/** Upstream connections per service (undici pool); GatewayOptions.upstreamConnections changes it in tests. */
export const UPSTREAM_CONNECTIONS = 128;

/**
 * The public port's server limits: below the services' (SERVICE_SERVER_LIMITS: 32 KiB, 1000
 * lines, 120 s), so nothing the gateway lets through, with the headers it adds, overflows
 * at a service; timeouts from the config (REQUEST_TIMEOUT_SEC, HEADERS_TIMEOUT_SEC).
 */
export function gatewayServerLimits(config: Config): ServerLimits {
  return { requestTimeoutMs: config.edge.requestTimeoutMs, headersTimeoutMs: config.edge.headersTimeoutMs, maxHeaderBytes: 16 * 1024, maxHeaderLines: 100 };
}

/** Builds the gateway app; `deps.start()` is the caller's (service.ts). */
export async function buildApp(deps: GatewayDeps): Promise<HttpApp> {
  const { config, shared, tenancy } = deps;
  const upstreamLoad = createUpstreamLoad(deps.options.upstreamConnections ?? UPSTREAM_CONNECTIONS);
  const ownChecks = { kv: () => shared.kv.ping(), transport: () => shared.transport.ping() };
  const app = await createHttpApp({
    name: 'gateway',
    logger: shared.logger,
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    registry: shared.registry,
    server: gatewayServerLimits(config),
    readiness: {
      // not ready while every connection to some service is taken (requests for it queue)
      upstream_capacity: () => upstreamLoad.check(),
      ...upstreamReadiness(config.serviceUrls),
      ...ownChecks,
    },
  });
  const system = createSystemService({ serviceUrls: config.serviceUrls, registry: app.metricsRegistry, ownChecks });
  await system.start();
  app.addHook('onClose', async () => system.stop());

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
  const inFlight = createInFlightCap(config.edge.maxInFlightPerIp);
  const overLimit = new WeakMap<FastifyRequest, Error>();
  const refuse = (req: FastifyRequest, err: unknown) => overLimit.set(req, err instanceof Error ? err : new Error(String(err)));
  // callback-style hooks (http.ts says why); the per-IP count is asynchronous only when it is on
  app.addHook('onRequest', (req, reply, done) => {
    try {
      inFlight.enter(req, reply);
    } catch (err) {
      refuse(req, err);
      return done();
    }
    const counted = limits.ip(req, reply);
    if (!counted) return done();
    counted.then(
      () => done(),
      (err: unknown) => {
        refuse(req, err);
        done();
      },
    );
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
  app.addHook('onRequest', (req, _reply, done) => done(overLimit.get(req)));

  systemRoutes(app, { system, tenantFor, tokens: deps.tokens });
  await app.register(proxyRoutes, {
    serviceUrls: config.serviceUrls,
    limits,
    tenantFor,
    tokens: deps.tokens,
    timeouts: deps.options.upstreamTimeouts,
    writesOnNewConnection: deps.options.writesOnNewConnection,
    bodyLimit: config.bodyLimitBytes,
    load: upstreamLoad,
  });
  return app;
}
