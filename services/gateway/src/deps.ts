/**
 * Wires the gateway's dependencies once: tenant resolver (with invalidation on
 * `tenant.events.*`), token verifier (JWKS of the auth service, shared revocation list),
 * OpenAPI merger. `start()` subscribes to tenant events, `stop()` ends the subscription.
 */
import { randomBytes } from 'node:crypto';
import { createTokenVerifier, verificationKeys, VERIFIED_TOKEN_CACHE, type Config, type SharedDeps } from '@gatehouse/platform';
import { createTenancyService, type TenancyServiceOptions } from './modules/tenancy/tenancy.service';
import { createTokenGuard } from './modules/tokens/tokens.service';
import { createDocsService } from './modules/docs/docs.service';
import type { ProxyRoutesOptions } from './modules/proxy/proxy.routes';

/** Knobs that tests and embedders may turn; production uses the defaults. */
export interface GatewayOptions {
  tenantCache?: Pick<TenancyServiceOptions, 'ttlMs' | 'negativeTtlMs' | 'staleMs' | 'timeoutMs'>;
  upstreamTimeouts?: ProxyRoutesOptions['timeouts'];
  /**
   * false: POST/PATCH/LOCK go to the services on the kept-alive pool instead of a new
   * connection each (proxy.dispatcher.ts). Only for the all-in-one process, whose services
   * cannot die without the gateway. Default true.
   */
  writesOnNewConnection?: boolean;
  /** upstream connections per service (default 128) */
  upstreamConnections?: number;
  /** Redis key namespace of the rate-limit counters (default `gatehouse:rl:`) */
  rateLimitNamespace?: string;
}

/** Creates the gateway's dependencies from config and the process-wide shared deps. */
export function createGatewayDeps(config: Config, shared: SharedDeps, options: GatewayOptions = {}) {
  const authUrl = config.serviceUrls.auth?.replace(/\/$/, '');
  const tenancy = createTenancyService({
    authUrl,
    baseDomain: config.baseDomain,
    headerMode: config.tenantHeader,
    logger: shared.logger.child({ module: 'tenancy' }),
    ...options.tenantCache,
  });
  const verifier = createTokenVerifier({
    // without AUTH_URL the gateway still starts (readiness says why) and refuses tokens
    keys: verificationKeys(config, shared, { service: 'gateway', required: false }),
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    revocations: shared.revocations,
    // a token used again skips the signature check, the gateway's largest per-request cost
    // (issue 13); revocation is still checked on every request
    cache: VERIFIED_TOKEN_CACHE,
  });
  const tokens = createTokenGuard({ verifier });
  const docs = createDocsService({
    serviceUrls: config.serviceUrls,
    publicUrl: config.publicUrl,
    logger: shared.logger.child({ module: 'docs' }),
  });

  let subscription: { stop(): Promise<void> } | undefined;

  return {
    config,
    shared,
    options,
    authUrl,
    tenancy,
    tokens,
    docs,

    /**
     * Subscribes to `tenant.events.>` through the shared event transport. Every gateway
     * process needs every event (each holds its own cache), so the durable name is unique
     * per process; a replayed or duplicate event only clears the cache once more.
     */
    async start() {
      if (subscription) return;
      subscription = await shared.transport.subscribe({
        durable: `gateway-tenants-${randomBytes(8).toString('hex')}`,
        subjects: ['tenant.events.>'],
        // only invalidations from now on matter, and a stopped gateway leaves no consumer behind
        fromNow: true,
        inactiveMs: 5 * 60_000,
        handler: async (event) => {
          tenancy.invalidate();
          shared.logger.debug({ type: event.type, tenant: event.tenantid }, 'tenant cache cleared');
        },
      });
    },

    async stop() {
      const s = subscription;
      subscription = undefined;
      await s?.stop();
    },
  };
}
export type GatewayDeps = ReturnType<typeof createGatewayDeps>;
