/**
 * Wires the users service once on its database: storage, token verifier, QR tokens, the feature
 * services, and the background work (outbox relay, identity replica, storage sweeper).
 */
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { authenticate, createTokenVerifier, VERIFIED_TOKEN_CACHE } from '@gatehouse/platform/auth';
import type { Config } from '@gatehouse/platform/config';
import { deriveKey } from '@gatehouse/platform/crypto';
import { createPurger, outboxPurgeTasks } from '@gatehouse/platform/purge';
import type { Database } from './db/schema';
import { registerDatabaseMetrics } from '@gatehouse/platform/db';
import { createOutboxRelay } from '@gatehouse/platform/events';
import type { SharedDeps } from '@gatehouse/platform/service';
import { createStorage } from '@gatehouse/platform/storage';
import { createObjectDeletions } from './modules/avatars/avatars.deletions';
import { createAvatarService } from './modules/avatars/avatars.service';
import { createAttendanceService } from './modules/attendance/attendance.service';
import { createEventService } from './modules/events/events.service';
import { createProfileService } from './modules/profiles/profiles.service';
import { createQrService } from './modules/qr/qr.service';
import { createQrTokens } from './modules/qr/qr.token';
import { createReplica } from './modules/replica/replica.service';

/** What the users service needs from the process (a full SharedDeps fits). */
export type UsersShared = Pick<SharedDeps, 'logger' | 'transport' | 'revocations' | 'registry' | 'verificationKeys'>;

/** Options of the users service that the configuration does not carry (tests and embedders). */
export interface UsersOptions {
  /** the time source (tests move it to the check-in window's edges) */
  clock?: () => Date;
  /** storage sweep interval (default 60 s) */
  sweepIntervalMs?: number;
}

export interface UsersDepsInput {
  config: Config;
  shared: UsersShared;
  db: Database;
  secret: string;
  /** token-verification keys (see `verificationKeys` in the platform) */
  keys: URL | JWTVerifyGetKey;
  options?: UsersOptions;
}

/** Builds every dependency of the users service on its opened, migrated database. */
export function createDeps({ config, shared, db, secret, keys, options: opts = {} }: UsersDepsInput) {
  const logger = shared.logger.child({ service: 'users' });
  const clock = opts.clock ?? (() => new Date());

  const storage = config.s3 ? createStorage({ s3: config.s3 }) : createStorage({ dataDir: path.join(config.dataDir, 'objects') });
  const relay = createOutboxRelay({ db: db.admin, schema: db.schema, transport: shared.transport, logger, registry: shared.registry });
  registerDatabaseMetrics(shared.registry, 'users', db);
  // what follows every commit: the outbox relay is nudged (db.ts, Emit)
  db.onCommit({ relay });
  const deletions = createObjectDeletions({ db, storage, logger, intervalMs: opts.sweepIntervalMs });
  const tokens = createQrTokens({ key: deriveKey(secret, 'qr-token'), ttlSec: config.qr.tokenTtlSec, clock });
  const verifier = createTokenVerifier({
    keys,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    revocations: shared.revocations,
    cache: VERIFIED_TOKEN_CACHE,
  });

  const replica = createReplica({ db, transport: shared.transport, deletions, logger });
  // users keeps nothing that expires but its outbox and inbox (see docs/operations.md, Retention)
  const purger = createPurger({ tasks: outboxPurgeTasks(db.admin, db.schema, config.purge), intervalSec: config.purge.intervalSec, batchSize: config.purge.batchSize, logger });

  let started = false;
  return {
    config,
    logger,
    registry: shared.registry,
    db,
    storage,
    transport: shared.transport,
    replica,
    deletions,
    purger,
    tokens,
    requireUser: authenticate(verifier),
    requireOrganizer: authenticate(verifier, ['organizer']),
    profiles: createProfileService({ db, clock }),
    avatars: createAvatarService({ db, storage, deletions, clock, logger }),
    qr: createQrService({ tokens }),
    events: createEventService({ db, clock }),
    attendance: createAttendanceService({
      db,
      tokens,
      clock,
      checkInEarlyMinutes: config.qr.checkInEarlyMinutes,
      registry: shared.registry,
      logger,
    }),

    /** Starts background work: outbox relay, identity replica (catches up first), storage sweeper. */
    async start() {
      if (started) return;
      started = true;
      relay.start();
      deletions.start();
      purger.start();
      await replica.start();
    },

    /** Stops background work (flushing the outbox) and closes storage; the database is the service's to close. */
    async close() {
      await purger.stop();
      await replica.stop().catch((err: unknown) => logger.warn({ err }, 'replica stop failed'));
      await deletions.stop().catch((err: unknown) => logger.warn({ err }, 'storage sweeper stop failed'));
      if (started) await relay.stop().catch((err: unknown) => logger.warn({ err }, 'outbox relay stop failed'));
      await storage.close().catch(() => {});
    },
  };
}
/** The wired users service (what `buildApp` and the tests use). */
export type UsersDeps = ReturnType<typeof createDeps>;
