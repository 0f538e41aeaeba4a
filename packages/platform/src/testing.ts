/**
 * Helpers for tests: a fresh database per test file (PostgreSQL when TEST_DATABASE_URL is set,
 * else PGlite in memory), the Redis and NATS URLs when set, and a quiet logger.
 * Test-only module: importing it from production code is a mistake.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey } from 'jose';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { createDatabase } from './db';
import { readColumns } from './schema';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createMemoryTransport, createNatsTransport, type EventTransport } from './events';
import { createKvStore } from './kv';
import { createMetricsRegistry } from './metrics';
import { instrumentTransport } from './events/instrument';
import { createMailer } from './mail';
import { createRevocationList } from './revocation';
import type { SharedDeps } from './service';

/** Which real servers the test run has (from scripts/test.mjs). */
export const testServers = {
  // Tests may read the environment: they are entry points, like main.ts.
  databaseUrl: process.env.TEST_DATABASE_URL || undefined,
  redisUrl: process.env.TEST_REDIS_URL || undefined,
  natsUrl: process.env.TEST_NATS_URL || undefined,
};

/** A logger that stays quiet unless TEST_LOG_LEVEL is set. */
export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * A new, empty PostgreSQL database for one test file; `drop()` removes it.
 * Returns `undefined` url when the run is embedded (use PGlite).
 */
export async function createTestDatabase(): Promise<{ url?: string; drop(): Promise<void> }> {
  const base = testServers.databaseUrl;
  if (!base) return { url: undefined, drop: async () => {} };
  const name = `gh_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/**
 * Migrates `migrationsDir` into `schema` of a fresh test database and returns its tables as
 * `information_schema` describes them, in the spelling of a service's declared column map
 * (`columns` in services/<svc>/src/db/schema.ts), for a schema test to compare.
 */
export async function migratedColumns(schema: string, migrationsDir: string): Promise<Record<string, Record<string, string>>> {
  const t = await createTestDatabase();
  try {
    const db = await createDatabase({ url: t.url, schema, logger: testLogger, poolSize: 1 });
    try {
      await db.migrate(migrationsDir);
      return await readColumns(db.admin, schema);
    } finally {
      await db.close();
    }
  } finally {
    await t.drop();
  }
}

/**
 * Retries `check` until it stops throwing and returns its value; rethrows its last error after
 * `timeoutMs`. The one polling helper of every test suite (events, replicas and caches settle
 * asynchronously).
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}

/** Issuer and audience of the access tokens {@link createTestTokens} mints. */
export const TEST_ISSUER = 'https://gatehouse.test';
export const TEST_AUDIENCE = 'gatehouse';

/**
 * A key pair and a minting function for access tokens with API.md's claims, for services
 * tested without the auth service (their verifier gets `jwks`).
 */
export async function createTestTokens() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const kid = `k-${randomBytes(4).toString('hex')}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const jwks: JWTVerifyGetKey = createLocalJWKSet({ keys: [jwk] });
  return {
    jwks,
    /** the public key as a JWK, for serving a JWKS document */
    jwk,
    /** An access token for `user` (roles default to ["user"]). */
    async mint(user: { sub: string; tid: string; roles?: string[] }): Promise<string> {
      return new SignJWT({ tid: user.tid, sid: randomUUID(), roles: user.roles ?? ['user'], amr: ['pwd'] })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(TEST_ISSUER)
        .setAudience(TEST_AUDIENCE)
        .setSubject(user.sub)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('15m')
        .sign(privateKey);
    },
  };
}

/** Shared deps of one test "process" ({@link createTestShared}). */
export type TestShared = SharedDeps & {
  /** its names on the shared servers: Redis key prefix, NATS subject prefix (stream: upper case) */
  prefix: string;
  /** the NATS server and the JetStream stream it made (NATS runs only) */
  natsUrl?: string;
  stream?: string;
  /** Closes what it opened and deletes its stream. */
  close(): Promise<void>;
};

/**
 * Shared deps as `createSharedDeps` makes them, on the test run's servers, with names of
 * their own (a Redis key prefix, a JetStream stream and subject prefix), so test files run in
 * parallel against one Redis and one NATS without meeting. `prefix` lets two "processes"
 * share one key space; `natsUrl` null means the in-process transport, a string a NATS server
 * of the test's own. `close()` removes the stream again.
 */
export async function createTestShared(opts: { prefix?: string; natsUrl?: string | null; logger?: Logger } = {}): Promise<TestShared> {
  const prefix = opts.prefix ?? `ght${randomBytes(5).toString('hex')}`;
  const logger = opts.logger ?? testLogger;
  const natsUrl = opts.natsUrl === null ? undefined : (opts.natsUrl ?? testServers.natsUrl);
  const kv = createKvStore({ url: testServers.redisUrl, keyPrefix: `${prefix}:`, logger });
  const stream = natsUrl ? prefix.toUpperCase() : undefined;
  const transport = natsUrl
    ? await createNatsTransport({ url: natsUrl, logger, stream, subjectPrefix: prefix, maxAgeMs: 60 * 60_000, name: `gatehouse-test-${prefix}` })
    : createMemoryTransport({ logger, retryBaseMs: 50 });
  const registry = createMetricsRegistry();
  const revocations = createRevocationList({ kv, logger, registry });
  await revocations.start();
  const mailer = createMailer({ from: 'Gatehouse <no-reply@localhost>', logger });
  return {
    logger,
    kv,
    transport: instrumentTransport(transport, registry),
    revocations,
    mailer,
    registry,
    prefix,
    natsUrl,
    stream,
    async close() {
      await revocations.stop().catch(() => {});
      await transport.close().catch(() => {});
      if (natsUrl && stream) {
        const nc = await connect({ servers: natsUrl, timeout: 2000 }).catch(() => undefined);
        if (nc) {
          await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
          await nc.close();
        }
      }
      await mailer.close().catch(() => {});
      await kv.close().catch(() => {});
    },
  };
}

/**
 * An event transport of its own for one test: JetStream with a stream and subject prefix unique
 * to it (files run in parallel against one NATS server), or the in-process one. `nats` gives
 * raw access (publish anything, with any headers); `reopen` another connection to the same
 * stream, as a restarted process would have.
 */
export async function createTestTransport(label = 'test'): Promise<{
  transport: EventTransport;
  kind: 'nats' | 'memory';
  /** raw NATS access (JetStream runs only) */
  nats?: { nc: NatsConnection; stream: string; prefix: string };
  reopen(): Promise<EventTransport>;
  cleanup(): Promise<void>;
}> {
  if (!testServers.natsUrl) {
    const transport = createMemoryTransport({ logger: testLogger, retryBaseMs: 20 });
    return { transport, kind: 'memory', reopen: async () => transport, cleanup: () => transport.close() };
  }
  const url = testServers.natsUrl;
  const id = randomBytes(5).toString('hex');
  const stream = `${label.toUpperCase()}_TEST_${id}`;
  const prefix = `${label}test${id}`;
  const open = () => createNatsTransport({ url, logger: testLogger, stream, subjectPrefix: prefix, retryBaseMs: 50, name: `${label}-test-${id}` });
  const opened: EventTransport[] = [await open()];
  const nc = await connect({ servers: url, name: `${label}-test-raw-${id}` });
  return {
    transport: opened[0]!,
    kind: 'nats',
    nats: { nc, stream, prefix },
    async reopen() {
      const t = await open();
      opened.push(t);
      return t;
    },
    async cleanup() {
      for (const t of opened) await t.close().catch(() => {});
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

/**
 * The statements the pg driver sends while `fn` runs, with their prepared-statement name when
 * they went as a named statement. Every statement goes through Client.prototype.query; only
 * those made on behalf of `fn` count (the outbox relay of a registration runs beside it), told
 * by an AsyncLocalStorage entered around `fn`. `everyCaller` counts every statement sent
 * meanwhile instead, for a service whose request runs outside the caller's async context (the
 * users service under `inject`: its handler's statements see none).
 */
export async function sentDuring<T>(fn: () => Promise<T>, opts: { everyCaller?: boolean } = {}): Promise<{ result: T; sent: Array<{ text: string; name?: string }> }> {
  const inRequest = new AsyncLocalStorage<true>();
  const original = pg.Client.prototype.query;
  const sent: Array<{ text: string; name?: string }> = [];
  const counting = function (this: pg.Client, ...args: Parameters<typeof original>) {
    const q = args[0] as unknown;
    if (opts.everyCaller || inRequest.getStore()) {
      if (typeof q === 'string') sent.push({ text: q });
      else {
        const c = q as { text?: string; name?: string };
        sent.push({ text: String(c.text ?? 'query'), ...(c.name ? { name: c.name } : {}) });
      }
    }
    return original.apply(this, args);
  } as typeof original;
  pg.Client.prototype.query = counting;
  try {
    return { result: await inRequest.run(true, fn), sent };
  } finally {
    pg.Client.prototype.query = original;
  }
}
