/**
 * Wires the audit service once: database (schema `audit`), migrations, outbox relay,
 * token verifier, chain, ingestion consumer, entries and the social log.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWTVerifyGetKey } from 'jose';
import { createTokenVerifier } from '@gatehouse/platform/auth';
import { ConfigError, type Config, type RateLimitSetting } from '@gatehouse/platform/config';
import { createDatabase, registerDatabaseMetrics, type Database } from '@gatehouse/platform/db';
import { createOutboxRelay } from '@gatehouse/platform/events';
import type { SharedDeps } from '@gatehouse/platform/service';
import { createChainService } from './modules/chain/chain.service';
import { createEntriesService } from './modules/entries/entries.service';
import { createIngestConsumer } from './modules/ingest/ingest.consumer';
import { createIngestMetrics } from './modules/ingest/ingest.metrics';
import { createIngestService } from './modules/ingest/ingest.service';
import { createSocialService } from './modules/social/social.service';

/** The process-wide dependencies the audit service uses (it sends no mail). */
export type AuditSharedDeps = Pick<SharedDeps, 'logger' | 'kv' | 'transport' | 'revocations' | 'registry'>;

/** Options of the audit service beyond the config. */
export interface AuditOptions {
  /** key lookup for access tokens (all-in-one mode passes the auth service's); else config.jwksUrl */
  jwks?: URL | JWTVerifyGetKey;
  /** social-log entries per user (default 60 a minute) */
  socialRateLimit?: RateLimitSetting;
  /** readiness fails while the consumer is further behind than this (default 300 s) */
  maxReadyLagSec?: number;
  /** an open database to use instead of opening one; the service then leaves it open on close */
  database?: Database;
  /** where the numbered .sql migrations are (default: found next to this service) */
  migrationsDir?: string;
}

export const AUDIT_SCHEMA = 'audit';

/**
 * The migrations directory: beside src/ when run from source, beside dist/ when the service
 * is bundled alone, under services/audit when bundled into the CLI.
 */
export function findMigrations(given?: string): string {
  const candidates = given
    ? [given]
    : [new URL('../migrations', import.meta.url), new URL('../../services/audit/migrations', import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((d) => existsSync(path.join(d, '0001_init.sql')));
  if (!found) throw new Error(`audit migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}

function jwksFrom(config: Config, given?: URL | JWTVerifyGetKey): URL | JWTVerifyGetKey {
  if (given) return given;
  if (config.jwksUrl) return new URL(config.jwksUrl);
  if (config.serviceUrls.auth) return new URL('/.well-known/jwks.json', config.serviceUrls.auth);
  throw new ConfigError('The audit service needs JWKS_URL (or AUTH_URL) to verify access tokens when it runs alone.');
}

/** Creates every dependency; nothing runs in the background until `start()`. */
export async function createAuditDeps(config: Config, shared: AuditSharedDeps, opts: AuditOptions = {}) {
  const logger = shared.logger.child({ service: 'audit' });
  const keys = jwksFrom(config, opts.jwks);
  const url = config.serviceDatabaseUrls.audit ?? config.databaseUrl;
  const ownsDb = !opts.database;
  const db =
    opts.database ??
    (await createDatabase({ url, dataDir: url ? undefined : path.join(config.dataDir, 'audit'), schema: AUDIT_SCHEMA, logger }));
  try {
    await db.migrate(findMigrations(opts.migrationsDir));
  } catch (err) {
    if (ownsDb) await db.close().catch(() => {});
    throw err;
  }

  const verifier = createTokenVerifier({
    keys,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    revocations: shared.revocations,
  });
  const relay = createOutboxRelay({ db: db.admin, schema: AUDIT_SCHEMA, transport: shared.transport, logger, registry: shared.registry });
  registerDatabaseMetrics(shared.registry, 'audit', db);
  const metrics = createIngestMetrics(shared.registry);
  const chain = createChainService({ db });
  const entries = createEntriesService({ db });
  const ingest = createIngestService({ db, chain, metrics, logger });
  const consumer = createIngestConsumer({ transport: shared.transport, ingest, logger });
  const social = createSocialService({
    chain,
    entries,
    kv: shared.kv,
    schema: AUDIT_SCHEMA,
    nudge: () => relay.nudge(),
    limit: opts.socialRateLimit ?? { max: 60, windowMs: 60_000 },
  });
  const maxReadyLagSec = opts.maxReadyLagSec ?? 300;

  return {
    config,
    logger,
    db,
    verifier,
    relay,
    metrics,
    chain,
    entries,
    ingest,
    consumer,
    social,
    /** readiness checks: database, transport, and the consumer subscribed and not far behind */
    readiness: {
      database: () => db.ping(),
      transport: () => shared.transport.ping(),
      consumer: async () => {
        consumer.check();
        const lag = metrics.currentLagSec();
        if (lag > maxReadyLagSec) throw new Error(`consumer is ${Math.round(lag)} s behind`);
      },
    } as Record<string, () => Promise<unknown>>,
    registry: shared.registry,
    /** Starts the outbox relay and the consumer. */
    async start(): Promise<void> {
      relay.start();
      await consumer.start();
    },
    /** Stops consuming, flushes the outbox, closes the database (when opened here). */
    async close(): Promise<void> {
      await consumer.stop();
      await relay.stop();
      if (ownsDb) await db.close();
    },
  };
}
export type AuditDeps = Awaited<ReturnType<typeof createAuditDeps>>;
