/**
 * The whole Gatehouse system in one process, as `gatehouse start` wires it (auth, users and
 * audit each on a loopback port, the real gateway in front of them on real HTTP), but with
 * names of its own on shared servers: a Redis key prefix, a JetStream stream and subject
 * prefix, a database. Services can be stopped and started again on the same port and
 * database, to show what a consumer that was down catches up on.
 *
 * The e2e suites use {@link startTestSystem} (the test run's servers); benchmarks use
 * {@link startSystem} with explicit URLs and {@link measureAuditLatency} for the audit figure.
 * (test/src/harness.ts is the tenancy suites' harness; this one can also stop and restart
 * services and take a NATS server of the test's own.) Not for production: `cli/src/start.ts` is that.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { createMemoryTransport, createNatsTransport } from '@gatehouse/platform/events';
import type { HttpApp } from '@gatehouse/platform/http';
import { createKvStore } from '@gatehouse/platform/kv';
import { createMetricsRegistry } from '@gatehouse/platform/metrics';
import { instrumentTransport } from '@gatehouse/platform/events/instrument';
import { createMailer } from '@gatehouse/platform/mail';
import { createRevocationList } from '@gatehouse/platform/revocation';
import type { RunningService, SharedDeps } from '@gatehouse/platform/service';
import { createTestDatabase, testLogger, testServers } from '@gatehouse/platform/testing';
import { createAuthService, type AuthDeps } from '@gatehouse/auth/service';
import { createUsersService } from '@gatehouse/users/service';
import { createAuditService } from '@gatehouse/audit/service';
import { createGatewayService } from '@gatehouse/gateway/service';

/** What to run the system on. Unset URLs mean the embedded backend (PGlite, memory, in-process). */
export interface SystemOptions {
  /** PostgreSQL: every service keeps its own schema in this database */
  databaseUrl?: string;
  redisUrl?: string;
  natsUrl?: string;
  /** embedded databases, avatars, the secret; default a new temporary directory (removed on close) */
  dataDir?: string;
  /** extra environment for loadConfig (e.g. QR_TOKEN_TTL_SEC); wins over the defaults below */
  env?: Record<string, string>;
  /** the superadmin created in the default tenant; default a generated one */
  admin?: { email: string; password: string };
  logger?: Logger;
  /** names in the shared servers (key prefix, stream, subject prefix); default random */
  prefix?: string;
}

/** The services behind the gateway that a test may stop and start again. */
export type BackendName = 'users' | 'audit';

/** A running system; see {@link startSystem}. */
export interface System {
  /** the gateway's base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  config: Config;
  shared: SharedDeps;
  admin: { email: string; password: string };
  /** the auth service with its deps (its database, outbox relay, keys) */
  auth: RunningService & { deps: AuthDeps };
  gateway: RunningService;
  /** the stream and subject prefix events go to when the transport is NATS */
  nats?: { url: string; stream: string; subjectPrefix: string };
  /** the running users or audit service, undefined while stopped */
  backend(name: BackendName): RunningService | undefined;
  /** Closes the service (app, then its consumers, relay and database); the gateway stays up. */
  stopBackend(name: BackendName): Promise<void>;
  /** Creates the service again on the same database and listens on the same port. */
  startBackend(name: BackendName): Promise<void>;
  /** fetch() against the gateway: `path` is appended to {@link System.url} */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stops everything and removes what the system created (stream, temporary directory). */
  close(): Promise<void>;
}

/** A stronger-than-policy password for generated accounts. */
export const TEST_PASSWORD = 'correct horse battery staple 7';

/** Listens on 127.0.0.1 (`port` 0: the OS picks) and returns the base URL. */
async function listenLoopback(app: HttpApp, port = 0): Promise<string> {
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('service did not get a TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** Shared deps like `createSharedDeps`, but with names of their own in Redis and NATS. */
async function createSharedFor(opts: SystemOptions, prefix: string, logger: Logger): Promise<SharedDeps & { stream?: string }> {
  const kv = createKvStore({ url: opts.redisUrl, keyPrefix: `${prefix}:`, logger });
  const stream = opts.natsUrl ? prefix.toUpperCase() : undefined;
  const transport = opts.natsUrl
    ? await createNatsTransport({ url: opts.natsUrl, logger, stream, subjectPrefix: prefix, maxAgeMs: 60 * 60_000, name: `gatehouse-e2e-${prefix}` })
    : createMemoryTransport({ logger });
  const registry = createMetricsRegistry();
  const revocations = createRevocationList({ kv, logger, registry });
  await revocations.start();
  const mailer = createMailer({ from: 'Gatehouse <no-reply@localhost>', logger });
  return { logger, kv, transport: instrumentTransport(transport, registry), revocations, mailer, registry, stream };
}

/** Deletes a JetStream stream (and its consumers) this system created on a shared server. */
async function deleteStream(url: string, stream: string): Promise<void> {
  const nc = await connect({ servers: url, timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

/**
 * Starts auth, users, audit and the gateway in this process on `opts`' servers and returns
 * once the gateway answers. Request-rate limits are off (suites and benchmarks send bursts
 * from one address); credential throttling stays as configured.
 */
export async function startSystem(opts: SystemOptions = {}): Promise<System> {
  const logger = opts.logger ?? testLogger;
  const prefix = opts.prefix ?? `ghe2e${randomBytes(5).toString('hex')}`;
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'gh-e2e-')));
  const admin = opts.admin ?? { email: `admin-${prefix}@example.test`, password: `${TEST_PASSWORD} admin` };
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: opts.databaseUrl,
    LOG_LEVEL: logger.level,
    GATEHOUSE_ADMIN_EMAIL: admin.email,
    GATEHOUSE_ADMIN_PASSWORD: admin.password,
    GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    RATE_LIMIT_IP_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    ...opts.env,
  });
  const shared = await createSharedFor(opts, prefix, logger);
  // Services trust the gateway's X-Forwarded-For, as in `gatehouse start`.
  const serviceConfig: Config = { ...config, trustProxy: ['127.0.0.1', '::1'] };

  let auth: (RunningService & { deps: AuthDeps }) | undefined;
  let gateway: RunningService | undefined;
  const backends = new Map<BackendName, RunningService>();
  const ports = new Map<BackendName, number>();

  async function closeService(s: RunningService): Promise<void> {
    await s.app.close().catch((err: unknown) => logger.error({ err, service: s.name }, 'app close failed'));
    await s.close().catch((err: unknown) => logger.error({ err, service: s.name }, 'service close failed'));
  }

  async function closeAll(): Promise<void> {
    if (gateway) await closeService(gateway);
    for (const name of ['audit', 'users'] as const) {
      const s = backends.get(name);
      backends.delete(name);
      if (s) await closeService(s);
    }
    if (auth) await closeService(auth);
    await shared.revocations.stop().catch(() => {});
    await shared.transport.close().catch(() => {});
    if (opts.natsUrl && shared.stream) await deleteStream(opts.natsUrl, shared.stream).catch(() => {});
    await shared.mailer.close().catch(() => {});
    await shared.kv.close().catch(() => {});
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
  }

  try {
    auth = await createAuthService(serviceConfig, shared);
    const authUrl = await listenLoopback(auth.app);
    serviceConfig.serviceUrls = { auth: authUrl };
    // One process: the other services verify tokens with auth's own key lookup, as `gatehouse start` does.
    const jwks = auth.deps.keys.getKey;
    const create: Record<BackendName, () => Promise<RunningService>> = {
      users: () => createUsersService(serviceConfig, shared, { jwks }),
      audit: () => createAuditService(serviceConfig, shared, { jwks }),
    };
    const urls: Config['serviceUrls'] = { auth: authUrl };
    for (const name of ['users', 'audit'] as const) {
      const s = await create[name]();
      backends.set(name, s);
      urls[name] = await listenLoopback(s.app);
      ports.set(name, Number(new URL(urls[name]).port));
    }
    gateway = await createGatewayService({ ...config, serviceUrls: urls }, shared, { jwks, rateLimitNamespace: `${prefix}:rl:` });
    const url = await listenLoopback(gateway.app);
    const started = { auth, gateway };

    return {
      url,
      config,
      shared,
      admin,
      auth: started.auth,
      gateway: started.gateway,
      nats: opts.natsUrl && shared.stream ? { url: opts.natsUrl, stream: shared.stream, subjectPrefix: prefix } : undefined,
      backend: (name) => backends.get(name),
      async stopBackend(name) {
        const s = backends.get(name);
        if (!s) return;
        backends.delete(name);
        await closeService(s);
      },
      async startBackend(name) {
        if (backends.has(name)) return;
        const s = await create[name]();
        backends.set(name, s);
        // The gateway knows this port; the address was released by the close (SO_REUSEADDR
        // lets it be bound again at once), so retry briefly only if something else took it.
        for (let attempt = 0; ; attempt++) {
          try {
            await listenLoopback(s.app, ports.get(name));
            return;
          } catch (err) {
            if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 20) {
              backends.delete(name);
              await closeService(s);
              throw err;
            }
            await sleep(100);
          }
        }
      },
      fetch: (p, init) => fetch(`${url}${p}`, init),
      close: closeAll,
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}

/**
 * {@link startSystem} on the test run's servers: a fresh PostgreSQL database when
 * TEST_DATABASE_URL is set (dropped on close), TEST_REDIS_URL, and TEST_NATS_URL unless
 * `natsUrl` is given (a test's own server) or `null` (in-process events).
 */
export async function startTestSystem(opts: Omit<SystemOptions, 'databaseUrl' | 'natsUrl' | 'redisUrl'> & { natsUrl?: string | null } = {}): Promise<System> {
  const db = await createTestDatabase();
  try {
    const system = await startSystem({
      ...opts,
      databaseUrl: db.url,
      redisUrl: testServers.redisUrl,
      natsUrl: opts.natsUrl === null ? undefined : (opts.natsUrl ?? testServers.natsUrl),
    });
    return {
      ...system,
      async close() {
        await system.close();
        await db.drop();
      },
    };
  } catch (err) {
    await db.drop().catch(() => {});
    throw err;
  }
}

/** Event-to-visible latencies of the audit trail, in milliseconds. */
export interface AuditLatency {
  samples: number[];
  p50: number;
  p95: number;
  max: number;
}

/**
 * The audit figure for benchmarks: for each of `samples` sign-ups through the gateway, the time
 * from the 201 to the account's `user.events.created` entry showing in its own
 * `GET /api/v1/audit/me` (auth outbox → transport → audit consumer → hash chain → query),
 * polled every `pollMs`. Sign-ups run one after another so the figure is latency, not queueing.
 * Throws when an entry does not show within `timeoutMs`. Nothing here judges the numbers.
 */
export async function measureAuditLatency(system: Pick<System, 'url'>, opts: { samples?: number; pollMs?: number; timeoutMs?: number } = {}): Promise<AuditLatency> {
  const samples: number[] = [];
  const n = opts.samples ?? 20;
  const pollMs = opts.pollMs ?? 2;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (let i = 0; i < n; i++) {
    const email = `latency-${randomBytes(6).toString('hex')}@example.test`;
    const reg = await fetch(`${system.url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: TEST_PASSWORD }),
    });
    const answered = performance.now();
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
    const { accessToken } = (await reg.json()) as { accessToken: string };
    for (;;) {
      const res = await fetch(`${system.url}/api/v1/audit/me?type=user.events.created`, { headers: { authorization: `Bearer ${accessToken}` } });
      const body = (await res.json()) as { items?: unknown[] };
      if (res.status === 200 && (body.items?.length ?? 0) > 0) break;
      if (performance.now() - answered > timeoutMs) throw new Error(`no audit entry for ${email} after ${timeoutMs} ms (last answer ${res.status})`);
      await sleep(pollMs);
    }
    samples.push(performance.now() - answered);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return { samples, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] ?? 0 };
}

/** What the backing servers are, for test names and skip messages. */
export function describeBackends(s: Pick<System, 'config' | 'shared'>): string {
  return [
    s.config.databaseUrl ? 'PostgreSQL' : 'PGlite',
    s.shared.kv.kind === 'redis' ? 'Redis' : 'memory kv',
    s.shared.transport.kind === 'nats' ? 'NATS JetStream' : 'in-process events',
  ].join(', ');
}
