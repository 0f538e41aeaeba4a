/**
 * Test helpers of the audit service (test-only: importing this from production code is a
 * mistake). Real PostgreSQL, Redis and NATS when the run has them, embedded otherwise;
 * access tokens minted with a local key pair.
 */
import { randomBytes } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import client from 'prom-client';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { createDatabase } from '@gatehouse/platform/db';
import type { Database, DB } from './db/schema';
import { makeEvent, type CloudEvent, type EventTransport } from '@gatehouse/platform/events';
import { createKvStore, type KvStore } from '@gatehouse/platform/kv';
import { createRevocationList, type RevocationList } from '@gatehouse/platform/revocation';
import type { HttpApp } from '@gatehouse/platform/http';
import { startService } from '@gatehouse/platform/service';
import { createTestDatabase, createTestTransport as createPlatformTestTransport, eventually as poll, testLogger, testServers } from '@gatehouse/platform/testing';
import { AUDIT_SCHEMA, type AuditDeps, type AuditOptions, type AuditSharedDeps } from './deps';
import { auditService } from './service';

// shared with every service's tests: one token minter
import { createTestTokens, TEST_ISSUER as ISSUER, TEST_AUDIENCE as AUDIENCE } from '@gatehouse/platform/testing';
export { createTestTokens, ISSUER, AUDIENCE };

/** Polls `check` until it stops throwing (10 s by default here). */
export const eventually = <T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> => poll(check, timeoutMs);

/** Config for tests: the token issuer/audience above, everything else default. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ TOKEN_ISSUER: ISSUER, TOKEN_AUDIENCE: AUDIENCE, LOG_LEVEL: 'silent', ...env });
}

/** An event transport of its own for one test (platform `createTestTransport`). */
export const createTestTransport = () => createPlatformTestTransport('audit');

/** Process-level deps for one test file: Redis (unique prefix) or memory, and a registry. */
export async function createTestShared(transport: EventTransport): Promise<AuditSharedDeps & { kv: KvStore; revocations: RevocationList; close(): Promise<void> }> {
  const kv = createKvStore({ url: testServers.redisUrl, keyPrefix: `audittest:${randomBytes(5).toString('hex')}:`, logger: testLogger });
  const revocations = createRevocationList({ kv, logger: testLogger });
  await revocations.start();
  const registry = new client.Registry();
  return {
    logger: testLogger,
    kv,
    transport,
    revocations,
    registry,
    async close() {
      await revocations.stop();
      await kv.close();
    },
  };
}

/** A fresh audit database: its own PostgreSQL database, or PGlite in memory. */
export async function createAuditTestDatabase(): Promise<{ db: Database; drop(): Promise<void> }> {
  const t = await createTestDatabase();
  const db = await createDatabase<DB>({ url: t.url, schema: AUDIT_SCHEMA, logger: testLogger, poolSize: 10 });
  return {
    db,
    async drop() {
      await db.close();
      await t.drop();
    },
  };
}

/** A running audit service (deps started, app built) over the given database and shared deps. */
export async function startAudit(
  db: Database,
  shared: AuditSharedDeps,
  opts: Omit<AuditOptions, 'database' | 'jwks'> & { jwks: JWTVerifyGetKey; config?: Config },
): Promise<{ deps: AuditDeps; app: HttpApp; close(): Promise<void> }> {
  const { config = testConfig(), jwks, ...rest } = opts;
  const service = await startService(auditService, config, { ...shared, verificationKeys: jwks }, { ...rest, database: db });
  return { deps: service.deps, app: service.app, close: () => service.close() };
}

/** A CloudEvent as another service would publish it. */
export function testEvent(tenantId: string, type: string, data: Record<string, unknown> = {}, extra: { subject?: string; id?: string; time?: Date } = {}): CloudEvent {
  return makeEvent({ source: 'gatehouse/test', type, tenantId, data, ...extra });
}

/** Number of stored entries for a tenant (owner connection: sees every tenant). */
export async function countEntries(db: Database, tenantId: string, where: { eventId?: string; type?: string } = {}): Promise<number> {
  let q = db.admin.selectFrom('entries').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', tenantId);
  if (where.eventId) q = q.where('event_id', '=', where.eventId);
  if (where.type) q = q.where('type', '=', where.type);
  const row = await q.executeTakeFirstOrThrow();
  return Number(row.n);
}

// the chain's own append, for suites elsewhere (the CLI's) that write entries directly
export { createChainService } from './modules/chain/chain.service';
