/**
 * The fault suite's cluster, every part a separate process on free loopback ports: its own
 * PostgreSQL (initdb), Redis and NATS JetStream; two replicas of each service run from the
 * built bundles (`node services/<name>/dist/main.js`, as the image and systemd run them); the
 * shipped nginx site in front (public site for the gateways, internal listeners for the
 * gateways' calls to auth, users and audit). Test-only module.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, portOpen, ROOT, startProc, waitUntil, type Proc } from '../deploy/support';
import { startNginx, type RunningNginx } from '../deploy/nginx-site';

export const SERVICES = ['auth', 'users', 'audit', 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

const PG_BIN = '/usr/lib/postgresql/15/bin';
export const ADMIN = { email: 'root@faults.test', password: 'correct horse battery staple 7 root' };

export interface Replica {
  service: ServiceName;
  index: number;
  port: number;
  /** its METRICS_PORT: chosen up front with the service ports (a port-0 listener could take one of those before its replica starts) */
  metricsPort: number;
  /** its GRPC_PORT (chosen up front with the others, like the metrics port) */
  grpcPort: number;
  proc: Proc;
  /** set while we stop it (kill, SIGTERM); any other exit is a process that died on its own */
  stopping: boolean;
  starts: number;
}

export interface Cluster {
  dir: string;
  pgUrl: string;
  nginx: RunningNginx;
  base: string;
  replicas: Replica[];
  env: Record<string, string>;
  startReplica(r: Replica): Promise<void>;
  waitReady(r: Replica, timeoutMs?: number): Promise<void>;
  /**
   * Replaces a running replica without a moment of refused connections: a new process listens
   * on the same port beside it (LISTEN_REUSE_PORT, SO_REUSEPORT; its own metrics and gRPC
   * ports), then the old one gets SIGTERM and drains. Where net.ipv4.tcp_migrate_req is 1
   * (the suite's own network namespace, see run.ts), the connections in the old listener's
   * accept queue when it closes move to the new one instead of being reset.
   */
  replaceReplica(r: Replica): Promise<void>;
  pg: { stop(): Promise<void>; start(): Promise<void> };
  redis: { stop(): Promise<void>; start(): Promise<void> };
  nats: { stop(): Promise<void>; start(): Promise<void> };
  /** replicas that exited without being told to (with the last lines they printed), since the last call */
  takeUnexpectedExits(): string[];
  /** restarts every replica that died on its own and waits until all are ready */
  ensureUp(): Promise<void>;
  query<T extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** Runs as the postgres user: PostgreSQL refuses to run as root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export async function startCluster(log: (line: string) => void): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-faults-'));
  chmodSync(dir, 0o755);
  const ports = { pg: await freePort(), redis: await freePort(), nats: await freePort() };

  // ---- PostgreSQL -------------------------------------------------------------------------
  const pgData = path.join(dir, 'pg');
  mkdirSync(pgData);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(pgData, uid, gid);
  }
  execFileSync(...asPostgres(`${PG_BIN}/initdb`, ['-D', pgData, '-A', 'trust', '-U', 'root', '--no-sync']), { stdio: 'pipe' });
  let pgProc: Proc | undefined;
  const pgStart = async () => {
    pgProc = startProc(...asPostgres(`${PG_BIN}/postgres`, ['-D', pgData, '-p', String(ports.pg), '-k', pgData, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200']));
    await waitUntil('PostgreSQL', () => portOpen(ports.pg), 30_000, () => pgProc!.output());
    await waitUntil('PostgreSQL accepting queries', async () => {
      const c = new pg.Client({ connectionString: `postgres://root@127.0.0.1:${ports.pg}/postgres` });
      try {
        await c.connect();
        await c.query('select 1');
        return true;
      } finally {
        await c.end().catch(() => {});
      }
    }, 30_000, () => pgProc!.output());
  };
  await pgStart();
  const pgUrl = `postgres://root@127.0.0.1:${ports.pg}/postgres`;

  // ---- Redis and NATS ---------------------------------------------------------------------
  let redisProc: Proc | undefined;
  const redisStart = async () => {
    redisProc = startProc('redis-server', ['--bind', '127.0.0.1', '--port', String(ports.redis), '--save', '', '--appendonly', 'no', '--dir', dir]);
    await waitUntil('Redis', () => portOpen(ports.redis), 15_000, () => redisProc!.output());
  };
  await redisStart();
  const natsDir = path.join(dir, 'nats');
  let natsProc: Proc | undefined;
  const natsStart = async () => {
    natsProc = startProc('nats-server', ['-a', '127.0.0.1', '-p', String(ports.nats), '-js', '-sd', natsDir]);
    await waitUntil('NATS', () => portOpen(ports.nats), 15_000, () => natsProc!.output());
  };
  await natsStart();

  // ---- the services behind nginx ------------------------------------------------------------
  const servicePorts: Record<ServiceName, number[]> = { auth: [], users: [], audit: [], gateway: [] };
  for (const s of SERVICES) servicePorts[s] = [await freePort(), await freePort()];
  const nginx = await startNginx({ upstreams: servicePorts, tls: false, accessLog: true });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    DATABASE_URL: pgUrl,
    REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
    NATS_URL: `nats://127.0.0.1:${ports.nats}`,
    GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    PUBLIC_URL: 'https://gatehouse.test',
    BASE_DOMAIN: 'gatehouse.test',
    AUTH_URL: nginx.internal.auth,
    USERS_URL: nginx.internal.users,
    AUDIT_URL: nginx.internal.audit,
    JWKS_URL: `${nginx.internal.auth}/.well-known/jwks.json`,
    TRUST_PROXY: '127.0.0.1',
    GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    // the load comes from one address: request-rate limits would measure themselves
    RATE_LIMIT_IP_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    LOG_LEVEL: 'warn',
    // a rolling restart starts the new process on the same port before it stops the old one
    LISTEN_REUSE_PORT: 'true',
  };
  const metricsPorts: Record<ServiceName, number[]> = { auth: [], users: [], audit: [], gateway: [] };
  for (const s of SERVICES) metricsPorts[s] = [await freePort(), await freePort()];
  const grpcPorts: Record<ServiceName, number[]> = { auth: [], users: [], audit: [], gateway: [] };
  for (const s of SERVICES) grpcPorts[s] = [await freePort(), await freePort()];
  const replicas: Replica[] = SERVICES.flatMap((service) =>
    servicePorts[service].map((port, index) => ({ service, index, port, metricsPort: metricsPorts[service][index]!, grpcPort: grpcPorts[service][index]!, proc: undefined as unknown as Proc, stopping: false, starts: 0 })),
  );
  const died: string[] = [];
  const startReplica = async (r: Replica) => {
    r.proc = startProc(process.execPath, [path.join(ROOT, 'services', r.service, 'dist/main.js')], {
      cwd: dir,
      env: { ...env, PORT: String(r.port), METRICS_PORT: String(r.metricsPort), GRPC_PORT: String(r.grpcPort), DATA_DIR: path.join(dir, `data-${r.service}-${r.index}`) },
    });
    r.starts++;
    r.stopping = false;
    const proc = r.proc;
    void proc.exited.then(({ code, signal }) => {
      // stopped on purpose, or an old process a new one replaced
      if (r.stopping || r.proc !== proc) return;
      const lastLines = proc.output().trim().split('\n').slice(-3).join(' | ').slice(0, 600);
      died.push(`${r.service}#${r.index} exited (${code ?? signal}): ${lastLines}`);
    });
  };
  /** until the process `pid` has a listening socket on `port` (`ss`, from iproute2) */
  const waitListening = (r: Replica, pid: number, timeoutMs = 120_000) =>
    waitUntil(
      `${r.service}#${r.index} (pid ${pid}) listening on ${r.port}`,
      async () => {
        if (r.proc.child.exitCode !== null || r.proc.child.signalCode !== null) throw new Error(`it exited: ${r.proc.output().slice(-1000)}`);
        return execFileSync('ss', ['-Htlnp', `sport = :${r.port}`]).toString().includes(`pid=${pid},`);
      },
      timeoutMs,
      () => r.proc.output().slice(-2000),
    );
  const replaceReplica = async (r: Replica) => {
    const old = r.proc;
    r.metricsPort = await freePort();
    r.grpcPort = await freePort();
    await startReplica(r);
    // it listens only once it is ready (the service is built and started before listen)
    await waitListening(r, r.proc.child.pid!);
    old.child.kill('SIGTERM');
    await old.exited;
  };
  const waitReady = (r: Replica, timeoutMs = 120_000) =>
    waitUntil(`${r.service}#${r.index} ready`, async () => (await fetch(`http://127.0.0.1:${r.port}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200, timeoutMs, () => r.proc.output().slice(-2000));

  const stopProc = async (p: Proc | undefined, signal: NodeJS.Signals) => {
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    await p.exited;
  };
  /** Stops everything the suite started (also when starting the replicas failed: no orphans). */
  const closeAll = async () => {
    for (const r of replicas) r.stopping = true;
    await Promise.all(replicas.map((r) => r.proc?.stop(5000)));
    await nginx.stop();
    await stopProc(natsProc, 'SIGTERM');
    await stopProc(redisProc, 'SIGTERM');
    if (pgProc && pgProc.child.exitCode === null) execFileSync(...asPostgres(`${PG_BIN}/pg_ctl`, ['stop', '-D', pgData, '-m', 'immediate']), { stdio: 'pipe' });
    await pgProc?.exited;
    // FAULTS_KEEP_DIR=1 keeps the cluster's files (nginx's access and error logs, the
    // replicas' output) for a failure's diagnosis
    if (process.env.FAULTS_KEEP_DIR === '1') {
      for (const r of replicas) writeFileSync(path.join(dir, `${r.service}-${r.index}.log`), r.proc?.output() ?? '');
      log(`kept ${dir} (the replicas' last output) and ${nginx.dir} (nginx's logs)`);
    }
    else rmSync(dir, { recursive: true, force: true });
  };

  // auth first (migrations, keys, the superadmin), then the rest
  try {
    for (const group of [['auth'], ['users', 'audit'], ['gateway']]) {
      const rs = replicas.filter((r) => group.includes(r.service));
      for (const r of rs) await startReplica(r);
      await Promise.all(rs.map((r) => waitReady(r)));
      log(`cluster: ${group.join(', ')} ready`);
    }
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }

  return {
    dir,
    pgUrl,
    nginx,
    base: nginx.siteUrl,
    replicas,
    env,
    startReplica,
    waitReady,
    replaceReplica,
    pg: {
      // pg_ctl, as an operator stops it (runuser does not pass signals on to postgres); up to
      // 180 s: on a loaded machine the shutdown checkpoint outlasted pg_ctl's default 60 s once
      async stop() {
        execFileSync(...asPostgres(`${PG_BIN}/pg_ctl`, ['stop', '-D', pgData, '-m', 'fast', '-w', '-t', '180']), { stdio: 'pipe' });
        await pgProc?.exited;
      },
      start: pgStart,
    },
    redis: { stop: () => stopProc(redisProc, 'SIGTERM'), start: redisStart },
    nats: { stop: () => stopProc(natsProc, 'SIGTERM'), start: natsStart },
    takeUnexpectedExits: () => died.splice(0),
    async ensureUp() {
      const down = replicas.filter((r) => r.proc.child.exitCode !== null || r.proc.child.signalCode !== null);
      for (const r of down) await startReplica(r);
      await Promise.all(replicas.map((r) => waitReady(r)));
    },
    async query<T extends pg.QueryResultRow>(text: string, params: unknown[] = []) {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      try {
        return (await c.query<T>(text, params)).rows;
      } finally {
        await c.end();
      }
    },
    close: closeAll,
  };
}
