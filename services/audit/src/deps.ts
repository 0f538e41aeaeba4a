/**
 * Wires the audit service once on its database (schema `audit`): outbox relay,
 * token verifier, chain, ingestion consumer, entries and the social log.
 */
import type { JWTVerifyGetKey } from 'jose';
import { createTokenVerifier, VERIFIED_TOKEN_CACHE } from '@gatehouse/platform/auth';
import type { Config, RateLimitSetting } from '@gatehouse/platform/config';
import { createPurger, outboxPurgeTasks } from '@gatehouse/platform/purge';
import type { Database } from './db/schema';
import { registerDatabaseMetrics } from '@gatehouse/platform/db';
import { createOutboxRelay } from '@gatehouse/platform/events';
import type { SharedDeps } from '@gatehouse/platform/service';
import { createChainService } from './modules/chain/chain.service';
import { createEntriesService } from './modules/entries/entries.service';
import { createStatsService } from './modules/stats/stats.service';
import { createIngestConsumer } from './modules/ingest/ingest.consumer';
import { createIngestMetrics } from './modules/ingest/ingest.metrics';
import { createIngestService } from './modules/ingest/ingest.service';
import { createSocialService } from './modules/social/social.service';

/** The process-wide dependencies the audit service uses (it sends no mail). */
export type AuditSharedDeps = Pick<SharedDeps, 'logger' | 'kv' | 'transport' | 'revocations' | 'registry' | 'verificationKeys'>;

/** Options of the audit service beyond the config (tests and embedders). */
export interface AuditOptions {
  /** social-log entries per user (default 60 a minute) */
  socialRateLimit?: RateLimitSetting;
  /** readiness fails while the consumer is further behind than this (default 300 s) */
  maxReadyLagSec?: number;
  /** an open database to use instead of opening one; the service then leaves it open on close */
  database?: Database;
}

export const AUDIT_SCHEMA = 'audit';

export interface AuditDepsInput {
  config: Config;
  shared: AuditSharedDeps;
  db: Database;
  /** token-verification keys (see `verificationKeys` in the platform) */
  keys: URL | JWTVerifyGetKey;
  options?: AuditOptions;
}

/** Creates every dependency; nothing runs in the background until `start()`. */
export function createAuditDeps({ config, shared, db, keys, options: opts = {} }: AuditDepsInput) {
  const logger = shared.logger.child({ service: 'audit' });

  const verifier = createTokenVerifier({
    keys,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    revocations: shared.revocations,
    cache: VERIFIED_TOKEN_CACHE,
  });
  const relay = createOutboxRelay({ db: db.admin, schema: AUDIT_SCHEMA, transport: shared.transport, logger, registry: shared.registry });
  registerDatabaseMetrics(shared.registry, 'audit', db);
  // what follows every commit: the outbox relay is nudged (db.ts, Emit)
  db.onCommit({ relay });
  const metrics = createIngestMetrics(shared.registry);
  const chain = createChainService({ db });
  const entries = createEntriesService({ db });
  const stats = createStatsService({ db });
  const ingest = createIngestService({ db, chain, metrics, logger });
  const consumer = createIngestConsumer({ transport: shared.transport, ingest, logger });
  const social = createSocialService({
    chain,
    entries,
    kv: shared.kv,
    limit: opts.socialRateLimit ?? { max: 60, windowMs: 60_000 },
  });
  const maxReadyLagSec = opts.maxReadyLagSec ?? 300;
  // audit entries are kept for good (a hash chain); dead letters are the operators' to clear
  const purger = createPurger({ tasks: outboxPurgeTasks(db.admin, AUDIT_SCHEMA, config.purge), intervalSec: config.purge.intervalSec, batchSize: config.purge.batchSize, logger });

  return {
    config,
    logger,
    db,
    verifier,
    relay,
    purger,
    metrics,
    chain,
    entries,
    stats,
    ingest,
    consumer,
    social,
    /** readiness checks: database, transport, and the consumer subscribed and not far behind */
    readiness: {
      database: () => db.ping(),
      transport: () => shared.transport.ping(),
      consumer: async () => {
        consumer.check();
        // Behind means events wait for the consumer while the ones it ingests are old. The age
        // of the last ingested event alone is not that: after a crash, events the dead process
        // left in its outbox (or held unacknowledged) arrive late and old, and once they are
        // in, nothing waits; readiness failed then for the idle minute of currentLagSec.
        const lag = metrics.currentLagSec();
        if (lag <= maxReadyLagSec) return;
        const waiting = await consumer.pending();
        if (waiting > 0) throw new Error(`consumer is ${Math.round(lag)} s behind, ${waiting} events waiting`);
      },
    } as Record<string, () => Promise<unknown>>,
    registry: shared.registry,
    /** Starts the outbox relay and the consumer. */
    async start(): Promise<void> {
      relay.start();
      purger.start();
      await consumer.start();
    },
    /** Stops consuming and flushes the outbox; the database is the service's to close. */
    async close(): Promise<void> {
      await purger.stop();
      await consumer.stop();
      await relay.stop();
    },
  };
}
export type AuditDeps = ReturnType<typeof createAuditDeps>;
