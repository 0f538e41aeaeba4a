/**
 * Wires the users service once: database, storage, token verifier, QR tokens, the feature
 * services, and the background work (outbox relay, identity replica, storage sweeper).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWTVerifyGetKey } from 'jose';
import { authenticate, createTokenVerifier } from '@gatehouse/platform/auth';
import { ConfigError, type Config } from '@gatehouse/platform/config';
import { deriveKey } from '@gatehouse/platform/crypto';
import { createDatabase, registerDatabaseMetrics } from '@gatehouse/platform/db';
import { createOutboxRelay } from '@gatehouse/platform/events';
import { resolveSecret } from '@gatehouse/platform/secret';
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
export type UsersShared = Pick<SharedDeps, 'logger' | 'transport' | 'revocations' | 'registry'>;

/** Options of {@link createDeps} (and `createUsersService`) that the configuration does not carry. */
export interface UsersOptions {
  /** how to get token-verification keys: the auth service's JWKS URL, or its key lookup in one process */
  jwks?: URL | JWTVerifyGetKey;
  /** the time source (tests move it to the check-in window's edges) */
  clock?: () => Date;
  /** storage sweep interval (default 60 s) */
  sweepIntervalMs?: number;
}

/** The numbered SQL migrations of the `users` schema. */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations');
/** PostgreSQL schema of the users service. */
export const SCHEMA = 'users';

function verificationKeys(config: Config, opts: UsersOptions): URL | JWTVerifyGetKey {
  if (opts.jwks) return opts.jwks;
  if (config.jwksUrl) return new URL(config.jwksUrl);
  if (config.serviceUrls.auth) return new URL('/.well-known/jwks.json', config.serviceUrls.auth);
  throw new ConfigError('JWKS_URL (or AUTH_URL) is required for the users service to verify access tokens');
}

/** Builds every dependency of the users service from config; the database is migrated on the way. */
export async function createDeps(config: Config, shared: UsersShared, opts: UsersOptions = {}) {
  const logger = shared.logger.child({ service: 'users' });
  const clock = opts.clock ?? (() => new Date());
  const keys = verificationKeys(config, opts);
  const secret = await resolveSecret(config);

  const db = await createDatabase({
    url: config.serviceDatabaseUrls.users ?? config.databaseUrl,
    dataDir: path.join(config.dataDir, 'users'),
    schema: SCHEMA,
    logger,
  });
  try {
    await db.migrate(MIGRATIONS_DIR);
  } catch (err) {
    await db.close();
    throw err;
  }

  const storage = config.s3 ? createStorage({ s3: config.s3 }) : createStorage({ dataDir: path.join(config.dataDir, 'objects') });
  const relay = createOutboxRelay({ db: db.admin, schema: db.schema, transport: shared.transport, logger, registry: shared.registry });
  registerDatabaseMetrics(shared.registry, 'users', db);
  const outbox = { nudge: () => relay.nudge() };
  const deletions = createObjectDeletions({ db, storage, logger, intervalMs: opts.sweepIntervalMs });
  const tokens = createQrTokens({ key: deriveKey(secret, 'qr-token'), ttlSec: config.qr.tokenTtlSec, clock });
  const verifier = createTokenVerifier({
    keys,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    revocations: shared.revocations,
  });

  const replica = createReplica({ db, transport: shared.transport, deletions, logger });

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
    tokens,
    requireUser: authenticate(verifier),
    requireOrganizer: authenticate(verifier, ['organizer']),
    profiles: createProfileService({ db, clock, outbox }),
    avatars: createAvatarService({ db, storage, deletions, clock, outbox, logger }),
    qr: createQrService({ tokens }),
    events: createEventService({ db, clock }),
    attendance: createAttendanceService({
      db,
      tokens,
      clock,
      checkInEarlyMinutes: config.qr.checkInEarlyMinutes,
      outbox,
      registry: shared.registry,
      logger,
    }),

    /** Starts background work: outbox relay, identity replica (catches up first), storage sweeper. */
    async start() {
      if (started) return;
      started = true;
      relay.start();
      deletions.start();
      await replica.start();
    },

    /** Stops background work (flushing the outbox) and closes the database and storage. */
    async close() {
      await replica.stop().catch((err: unknown) => logger.warn({ err }, 'replica stop failed'));
      await deletions.stop().catch((err: unknown) => logger.warn({ err }, 'storage sweeper stop failed'));
      if (started) await relay.stop().catch((err: unknown) => logger.warn({ err }, 'outbox relay stop failed'));
      await storage.close().catch(() => {});
      await db.close();
    },
  };
}
/** The wired users service (what `buildApp` and the tests use). */
export type UsersDeps = Awaited<ReturnType<typeof createDeps>>;
