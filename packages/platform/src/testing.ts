/**
 * Helpers for tests: a fresh database per test file (PostgreSQL when TEST_DATABASE_URL is set,
 * else PGlite in memory), the Redis and NATS URLs when set, and a quiet logger.
 * Test-only module: importing it from production code is a mistake.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';

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
