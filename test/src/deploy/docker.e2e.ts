/**
 * The container image as an operator uses it (`npm run test:docker`; .ci/run runs it):
 *
 * 1. the base image the Dockerfile names is built locally when missing (no registry here:
 *    deploy/docker/base-image.sh, debootstrap + Node 24 from the npm registry, cached);
 * 2. Gatehouse's image is built from a clean checkout (the files git knows, nothing else;
 *    the machine's CA bundle as build-ca.pem for npm ci) and its size is reported;
 * 3. SERVICE=all on a named volume (embedded PGlite, avatars on disk) answers a round trip;
 * 4. DATA_DIR on a read-only place is one line and exit 1;
 * 5. the four services run as separate containers on the machine's PostgreSQL, Redis and
 *    NATS (host network, free ports): every one turns `healthy` (the image's HEALTHCHECK),
 *    register -> login -> profile -> audit works through the gateway container, every
 *    process runs as uid 1000, and `docker stop` ends each one with exit 0 (graceful).
 *
 * Needs a Docker engine (skipped, saying why, when `docker info` fails), root (debootstrap),
 * and TEST_DATABASE_URL, TEST_REDIS_URL, TEST_NATS_URL like the other suites.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { api, freePort, roundTrip, ROOT, waitUntil } from './support';

const run = promisify(execFile);
const IMAGE = process.env.GATEHOUSE_TEST_IMAGE ?? 'gatehouse:ci';
const BASE = 'node:24-bookworm-slim';
const CA = '/etc/ssl/certs/ca-certificates.crt';
const id = randomBytes(4).toString('hex');

const engine = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
const servers = {
  db: process.env.TEST_DATABASE_URL,
  redis: process.env.TEST_REDIS_URL,
  nats: process.env.TEST_NATS_URL,
};
const skip =
  engine.status !== 0
    ? `no Docker engine answers (docker info: ${(engine.stderr || engine.error?.message || '').trim().split('\n')[0]}); .ci/run starts dockerd where it can`
    : !servers.db || !servers.redis || !servers.nats
      ? 'TEST_DATABASE_URL, TEST_REDIS_URL and TEST_NATS_URL must name the real servers'
      : false;

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}
const logsOf = async (name: string) => {
  const r = spawnSync('docker', ['logs', '--tail', '40', name], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
};

/** Builds the image from the files git knows (a clean checkout), plus the CA bundle for npm. */
async function buildImage(): Promise<void> {
  if (spawnSync('docker', ['image', 'inspect', BASE]).status !== 0) {
    execFileSync('bash', [path.join(ROOT, 'deploy/docker/base-image.sh'), BASE], { stdio: 'inherit' });
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-docker-ctx-'));
  try {
    const files = execFileSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { maxBuffer: 64 * 1024 * 1024 })
      .toString()
      .split('\0')
      .filter((f) => f && existsSync(path.join(ROOT, f)));
    await writeFile(path.join(dir, 'files'), files.join('\0'));
    execFileSync('tar', ['--null', '-C', ROOT, '-T', path.join(dir, 'files'), '-cf', path.join(dir, 'ctx.tar')]);
    if (existsSync(CA)) {
      await copyFile(CA, path.join(dir, 'build-ca.pem'));
      execFileSync('tar', ['-C', dir, '-rf', path.join(dir, 'ctx.tar'), 'build-ca.pem']);
    }
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', `docker build --network host -f deploy/Dockerfile -t ${IMAGE} - < "${dir}/ctx.tar"`], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`docker build failed:\n${(r.stdout + r.stderr).slice(-6000)}`);
    // the classic builder keeps the build stage as an untagged image: not needed any more
    // and the image this tag pointed at before, once it is untagged (dangling)
    spawnSync('docker', ['image', 'prune', '-f', '--filter', 'label=gatehouse.stage=build']);
    spawnSync('docker', ['image', 'prune', '-f', '--filter', 'label=org.opencontainers.image.title=gatehouse']);
    const bytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', IMAGE));
    const baseBytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', BASE));
    console.log(`docker: built ${IMAGE} in ${Math.round((Date.now() - t0) / 1000)} s: ${(bytes / 1e6).toFixed(0)} MB (base ${BASE} ${(baseBytes / 1e6).toFixed(0)} MB, Gatehouse layers ${((bytes - baseBytes) / 1e6).toFixed(0)} MB)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function health(name: string): Promise<string> {
  return docker('inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{end}}/{{.State.Status}}', name);
}

describe('the container image', { skip, timeout: 30 * 60_000 }, () => {
  const containers: string[] = [];
  const volumes: string[] = [];
  let dbName = '';

  before(async () => {
    await buildImage();
  });

  after(async () => {
    for (const c of containers) spawnSync('docker', ['rm', '-f', c]);
    for (const v of volumes) spawnSync('docker', ['volume', 'rm', '-f', v]);
    if (dbName) {
      const c = new pg.Client({ connectionString: servers.db });
      await c.connect();
      await c.query(`drop database if exists ${dbName} with (force)`);
      await c.end();
    }
    if (servers.nats) {
      // the stream this run's services created on the shared NATS
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: servers.nats, timeout: 2000 }).catch(() => undefined);
      if (nc) {
        await (await jetstreamManager(nc)).streams.delete(`GHDOCKER${id.toUpperCase()}`).catch(() => false);
        await nc.close();
      }
    }
  });

  test('SERVICE=all on a volume: embedded mode works as uid 1000 and stops gracefully', async () => {
    const port = await freePort();
    const name = `gh-all-${id}`;
    const volume = `gh-data-${id}`;
    volumes.push(volume);
    containers.push(name);
    await docker('run', '-d', '--name', name, '--network', 'host', '-v', `${volume}:/data`, '-e', `PORT=${port}`, '-e', `GRPC_PORT=${await freePort()}`, '-e', 'HOST=127.0.0.1', '-e', `PUBLIC_URL=http://127.0.0.1:${port}`, IMAGE);
    const base = `http://127.0.0.1:${port}`;
    await waitUntil('the all-in-one container answering /readyz', async () => (await api(base, 'GET', '/readyz')).status === 200, 120_000, () => '');
    await roundTrip(base);
    assert.equal(await docker('exec', name, 'sh', '-c', "awk '/^Uid:/{print $2}' /proc/1/status"), '1000');
    await docker('stop', '-t', '20', name);
    assert.equal(await docker('inspect', '-f', '{{.State.ExitCode}}', name), '0', await logsOf(name));
  });

  test('a DATA_DIR the process cannot write: one line, exit 1', async () => {
    const r = spawnSync('docker', ['run', '--rm', '--network', 'host', '-e', 'DATA_DIR=/app/data', '-e', `PORT=${await freePort()}`, IMAGE], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`.trim();
    assert.equal(r.status, 1, out);
    assert.match(out, /^gatehouse: DATA_DIR \/app\/data is not writable by this process \(uid 1000\): EACCES\./);
    assert.equal(out.split('\n').length, 1, out);
  });

  test('four services as separate containers on PostgreSQL, Redis and NATS: healthy, round trip, non-root, graceful stop', async () => {
    dbName = `gh_docker_${id}`;
    const c = new pg.Client({ connectionString: servers.db });
    await c.connect();
    await c.query(`create database ${dbName}`);
    await c.end();
    const dbUrl = new URL(servers.db!);
    dbUrl.pathname = `/${dbName}`;
    // its own Redis database: rate-limit and throttle keys of other suites stay apart
    const redisUrl = new URL(servers.redis!);
    redisUrl.pathname = '/11';

    const ports = { gateway: await freePort(), auth: await freePort(), users: await freePort(), audit: await freePort() };
    // four containers on the host network: each its own metrics port, chosen up front like the
    // service ports (a port-0 listener could take one of those before its container starts)
    const metricsPorts = { gateway: await freePort(), auth: await freePort(), users: await freePort(), audit: await freePort() };
    const publicUrl = `http://127.0.0.1:${ports.gateway}`;
    const common = {
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: redisUrl.toString(),
      NATS_URL: servers.nats!,
      NATS_STREAM: `GHDOCKER${id.toUpperCase()}`,
      NATS_SUBJECT_PREFIX: `ghdocker${id}`,
      GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
      PUBLIC_URL: publicUrl,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      TRUST_PROXY: '127.0.0.1',
      JWKS_URL: `http://127.0.0.1:${ports.auth}/.well-known/jwks.json`,
      AUTH_URL: `http://127.0.0.1:${ports.auth}`,
      USERS_URL: `http://127.0.0.1:${ports.users}`,
      AUDIT_URL: `http://127.0.0.1:${ports.audit}`,
    };
    const order = ['auth', 'users', 'audit', 'gateway'] as const;
    for (const service of order) {
      const name = `gh-${service}-${id}`;
      containers.push(name);
      const env = Object.entries({ ...common, SERVICE: service, PORT: String(ports[service]), METRICS_PORT: String(metricsPorts[service]), GRPC_PORT: String(await freePort()) }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
      // the services keep nothing on disk here (PostgreSQL); a tmpfs stands in for the /data volume
      await docker('run', '-d', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/data:uid=1000,gid=1000', '--tmpfs', '/tmp', ...env, IMAGE);
    }
    for (const service of order) {
      const name = `gh-${service}-${id}`;
      await waitUntil(`${service} container healthy`, async () => (await health(name)).startsWith('healthy'), 180_000, () => `${service}: ${spawnSync('docker', ['inspect', '-f', '{{json .State}}', name], { encoding: 'utf8' }).stdout}`);
    }
    const { auditTypes } = await roundTrip(publicUrl);
    assert.ok(auditTypes.some((t) => t.startsWith('auth.events.login')), auditTypes.join(', '));

    for (const service of order) {
      const name = `gh-${service}-${id}`;
      assert.equal(await docker('exec', name, 'sh', '-c', "awk '/^Uid:/{print $2}' /proc/1/status"), '1000', `${service} runs as uid 1000`);
      assert.equal(await docker('inspect', '-f', '{{.Config.User}}', name), '1000:1000');
    }
    // graceful stop, gateway first: SIGTERM, drain, exit 0 (a SIGKILL after the 20 s grace would be 137)
    for (const service of [...order].reverse()) {
      const name = `gh-${service}-${id}`;
      await docker('stop', '-t', '20', name);
      const code = await docker('inspect', '-f', '{{.State.ExitCode}}', name);
      assert.equal(code, '0', `${service} exit code after docker stop:\n${await logsOf(name)}`);
      assert.match(await logsOf(name), /shutting down/);
    }
  });
});
