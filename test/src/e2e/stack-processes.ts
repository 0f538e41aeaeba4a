/**
 * The four services as separate processes (`services/<name>/src/main.ts`, as in per-service
 * deployments): one PostgreSQL database (a schema each), the test run's Redis, and the test
 * run's NATS under a stream and subject prefix of their own (deleted on close). Each process
 * serves its metrics on a METRICS_PORT of its own, and its gRPC API on a GRPC_PORT of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createTestDatabase, testServers } from '@gatehouse/platform/testing';
import { freePort } from './nats-server';
import { spawnService, type ServiceProcess } from './processes';

export const PROCESS_NAMES = ['auth', 'users', 'audit', 'gateway'] as const;
export type ProcessName = (typeof PROCESS_NAMES)[number];

export interface ProcessStack {
  gateway: ServiceProcess;
  processes: Record<ProcessName, ServiceProcess>;
  /** each process's metrics URL (`http://127.0.0.1:<METRICS_PORT>/metrics`) */
  metricsUrls: Record<ProcessName, string>;
  /** each process's GRPC_PORT as `127.0.0.1:<port>` (auth and audit serve gRPC there) */
  grpcAddresses: Record<ProcessName, string>;
  admin: { email: string; password: string };
  close(): Promise<(number | null)[]>;
}

/** Why a process stack cannot run here (it needs the run's PostgreSQL and NATS), or undefined. */
export function processStackMissing(): string | undefined {
  if (!testServers.databaseUrl) return 'needs PostgreSQL (TEST_DATABASE_URL): the processes share one database';
  if (!testServers.natsUrl) return 'needs NATS (TEST_NATS_URL): events cross processes only through NATS';
  return undefined;
}

/** Starts auth, users, audit, then the gateway, each with `env` added (from the sources, or `bundled`: from the built dist/main.js). */
export async function startProcessStack(env: Record<string, string> = {}, opts: { bundled?: boolean } = {}): Promise<ProcessStack> {
  const prefix = `ghproc${randomBytes(4).toString('hex')}`;
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-e2e-stack-'));
  const admin = { email: `admin-${prefix}@example.test`, password: 'correct horse battery staple admin' };
  const common = {
    GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.url,
    REDIS_URL: testServers.redisUrl,
    NATS_URL: testServers.natsUrl,
    NATS_STREAM: prefix.toUpperCase(),
    NATS_SUBJECT_PREFIX: prefix,
    TOKEN_ISSUER: 'http://gatehouse.e2e',
    TOKEN_AUDIENCE: 'gatehouse',
    RATE_LIMIT_IP_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    // nothing balances over these processes: a stop need not wait for clients to go
    SHUTDOWN_DRAIN_SEC: '0',
    ...env,
  };
  const started: ServiceProcess[] = [];
  const metricsUrls = {} as Record<ProcessName, string>;
  const grpcAddresses = {} as Record<ProcessName, string>;
  const processes = {} as Record<ProcessName, ServiceProcess>;
  async function close(): Promise<(number | null)[]> {
    const codes: (number | null)[] = [];
    for (const p of [...started].reverse()) codes.push(await p.stop());
    const nc = await connect({ servers: testServers.natsUrl, timeout: 2000 }).catch(() => undefined);
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(prefix.toUpperCase()).catch(() => false);
      await nc.close();
    }
    await db.drop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    return codes;
  }
  try {
    const spawn = async (name: ProcessName, extra: Record<string, string | undefined>) => {
      const metricsPort = await freePort();
      metricsUrls[name] = `http://127.0.0.1:${metricsPort}/metrics`;
      const grpcPort = await freePort();
      grpcAddresses[name] = `127.0.0.1:${grpcPort}`;
      const p = await spawnService(name, await freePort(), { ...common, ...extra, METRICS_PORT: String(metricsPort), GRPC_PORT: String(grpcPort) }, undefined, opts.bundled);
      started.push(p);
      processes[name] = p;
      return p;
    };
    const auth = await spawn('auth', {
      DATA_DIR: dataDir,
      GATEHOUSE_ADMIN_EMAIL: admin.email,
      GATEHOUSE_ADMIN_PASSWORD: admin.password,
    });
    const users = await spawn('users', { DATA_DIR: dataDir, AUTH_URL: auth.url });
    const audit = await spawn('audit', { DATA_DIR: dataDir, AUTH_URL: auth.url });
    const gateway = await spawn('gateway', { AUTH_URL: auth.url, USERS_URL: users.url, AUDIT_URL: audit.url });
    return { gateway, processes, metricsUrls, grpcAddresses, admin, close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
