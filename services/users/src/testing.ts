/**
 * Test helpers of the users service (test-only: importing this from production code is a
 * mistake). Real PostgreSQL, Redis and NATS when the run has them (TEST_* variables), embedded
 * otherwise; access tokens minted with a local key pair; a clock tests can move.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import client from 'prom-client';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { makeEvent, type CloudEvent, type EventTransport } from '@gatehouse/platform/events';
import type { HttpApp } from '@gatehouse/platform/http';
import { startService, type ServiceInstance } from '@gatehouse/platform/service';
import { createKvStore } from '@gatehouse/platform/kv';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { createTestDatabase, createTestTransport as createPlatformTestTransport, testLogger, testServers } from '@gatehouse/platform/testing';
import type { UsersDeps, UsersOptions, UsersShared } from './deps';
import { usersService } from './service';

// request bodies of the avatar tests, for suites elsewhere (test/)
export { multipart, pngImage } from './modules/avatars/avatars.fixtures';

// shared with every service's tests: one poller, one token minter
import { eventually, createTestTokens, TEST_ISSUER as ISSUER, TEST_AUDIENCE as AUDIENCE } from '@gatehouse/platform/testing';
export { eventually, createTestTokens, ISSUER, AUDIENCE };

/** A clock tests can set; `null` follows real time. */
export function createTestClock() {
  let fixed: Date | null = null;
  return {
    now: () => (fixed ? new Date(fixed) : new Date()),
    set(d: Date | null) {
      fixed = d ? new Date(d) : null;
    },
  };
}

/** An event transport of its own for one test (platform `createTestTransport`). */
export const createTestTransport = () => createPlatformTestTransport('users');

/** A `user.events.*` event as the identity service publishes it. */
export function userEvent(
  action: 'created' | 'updated' | 'deleted',
  u: { id: string; tenantId: string; email?: string; username?: string | null; displayName?: string | null },
  extra: { id?: string; time?: Date } = {},
): CloudEvent {
  return makeEvent({
    source: 'gatehouse/auth',
    type: `user.events.${action}`,
    tenantId: u.tenantId,
    subject: u.id,
    id: extra.id,
    time: extra.time,
    data: { id: u.id, email: u.email ?? `${u.id.slice(0, 8)}@example.test`, username: u.username ?? null, displayName: u.displayName, action },
  });
}

/** A running users service for one test file, with what the tests need around it. */
export interface TestUsers {
  /** the wired dependencies (database, replica, services) of the running instance */
  deps: UsersDeps;
  app: HttpApp;
  config: Config;
  transport: EventTransport;
  clock: ReturnType<typeof createTestClock>;
  mint(user: { sub: string; tid: string; roles?: string[] }): Promise<string>;
  /** Publishes user.events.created and waits until the profile exists. */
  createUser(u?: { tenantId?: string; username?: string | null; displayName?: string | null; email?: string }): Promise<{ id: string; tenantId: string; token: string }>;
  /** Stops the service (app and background work) but keeps database, transport and data dir. */
  stop(): Promise<void>;
  /** Starts the service again on the same database, data dir and (reopened) transport. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A users service for one test file: its own database (PostgreSQL or PGlite in a temp dir),
 * transport, data dir, token keys and clock.
 */
export async function startTestUsers(opts: { env?: Record<string, string>; options?: Partial<UsersOptions> } = {}): Promise<TestUsers> {
  // Undone in reverse if anything below fails, so a failed start leaves no open handle
  // (an open handle keeps the test process alive) and no database behind.
  const undo: Array<() => Promise<unknown>> = [];
  const rollback = async () => {
    for (const f of undo.reverse()) await f().catch(() => {});
  };
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let t: Awaited<ReturnType<typeof createTestTransport>>;
  let kv: ReturnType<typeof createKvStore>;
  let revocations: ReturnType<typeof createRevocationList>;
  try {
    database = await createTestDatabase();
    undo.push(() => database.drop());
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-users-'));
    const dir = dataDir;
    undo.push(() => rm(dir, { recursive: true, force: true }));
    t = await createTestTransport();
    undo.push(() => t.cleanup());
    kv = createKvStore({ url: testServers.redisUrl, keyPrefix: `userstest:${randomBytes(5).toString('hex')}:`, logger: testLogger });
    const store = kv;
    undo.push(() => store.close());
    revocations = createRevocationList({ kv, logger: testLogger, channel: `userstest-${randomBytes(5).toString('hex')}` });
    await revocations.start();
  } catch (err) {
    await rollback();
    throw err;
  }
  const tokens = await createTestTokens();
  const clock = createTestClock();
  const registry = new client.Registry();
  const config = loadConfig({
    TOKEN_ISSUER: ISSUER,
    TOKEN_AUDIENCE: AUDIENCE,
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    GATEHOUSE_SECRET: 'test-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...opts.env,
  });
  let transport = t.transport;
  const shared = (): UsersShared => ({ logger: testLogger, transport, revocations, registry, verificationKeys: tokens.jwks });
  const open = async () => {
    const service = await startService(usersService, config, shared(), { clock: clock.now, ...opts.options });
    await service.app.ready();
    return service;
  };
  let running: ServiceInstance<UsersDeps> | undefined;
  try {
    running = await open();
  } catch (err) {
    await revocations.stop().catch(() => {});
    await rollback();
    throw err;
  }
  let app = running.app;

  const self: TestUsers = {
    get deps() {
      return running!.deps;
    },
    get app() {
      return app;
    },
    config,
    get transport() {
      return transport;
    },
    clock,
    mint: tokens.mint,
    async createUser(u = {}) {
      const id = randomUUID();
      const tenantId = u.tenantId ?? randomUUID();
      await transport.publish(userEvent('created', { id, tenantId, username: u.username ?? `u${id.slice(0, 8)}`, displayName: u.displayName, email: u.email }));
      const token = await tokens.mint({ sub: id, tid: tenantId });
      await eventually(async () => {
        const res = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } });
        if (res.statusCode !== 200) throw new Error(`profile not there yet: ${res.statusCode}`);
      });
      return { id, tenantId, token };
    },
    async stop() {
      if (!running) return;
      await running.close();
      running = undefined;
    },
    async restart() {
      await self.stop();
      if (t.kind === 'nats') transport = await t.reopen();
      running = await open();
      app = running.app;
    },
    async close() {
      await self.stop();
      await revocations.stop().catch(() => {});
      await kv.close().catch(() => {});
      await t.cleanup().catch(() => {});
      await database.drop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** `Authorization` header for a token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
