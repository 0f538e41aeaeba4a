/** The audit service's HTTP app: the audit trail and the social log. */
import { createHttpApp, type HttpApp } from '@gatehouse/platform/http';
import type { AuditDeps } from './deps';
import { registerEntriesRoutes } from './modules/entries/entries.routes';
import { registerSocialRoutes } from './modules/social/social.routes';
import { registerStatsRoutes } from './modules/stats/stats.routes';

/** Builds the Fastify app over wired dependencies (tests use `app.inject`). */
export async function buildApp(deps: AuditDeps): Promise<HttpApp> {
  const app = await createHttpApp({
    name: 'audit',
    logger: deps.logger,
    bodyLimit: deps.config.bodyLimitBytes,
    // Behind the gateway (or any proxy listed in TRUST_PROXY) the client address comes from
    // X-Forwarded-For; an explicit TRUST_PROXY list narrows whom that header is believed from.
    trustProxy: deps.config.trustProxy.length > 0 ? deps.config.trustProxy : true,
    readiness: deps.readiness,
    registry: deps.registry,
    openapi: { title: 'Gatehouse audit', description: 'Append-only, hash-chained audit trail and social log.' },
  });
  registerEntriesRoutes(app, { entries: deps.entries, chain: deps.chain, verifier: deps.verifier });
  registerSocialRoutes(app, { social: deps.social, verifier: deps.verifier });
  registerStatsRoutes(app, { stats: deps.stats, verifier: deps.verifier });
  return app;
}
