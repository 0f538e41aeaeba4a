/** Benchmark plumbing: child processes, HTTP helpers, load runs and result formatting. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import type { Plugin } from 'esbuild';

export const root = new URL('../../', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

export interface Child {
  proc: ChildProcess;
  lines: string[];
  /** resolves with the first JSON log line whose msg matches */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** until `<base>/readyz` answers 200; throws with its last lines if the process exits first */
  ready(base: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The all-in-one system's command as production runs it: with servers (`real`), the container
 * image's ({@link containerCommand}); embedded, `npm start`'s ({@link npmStartCommand}).
 */
export function productionCommand(real: boolean): { script: string; args: string[]; nodeArgs: string[]; command: string } {
  const c = real ? containerCommand() : npmStartCommand(root);
  return { ...c, command: ['node', ...c.nodeArgs, c.script, ...c.args].join(' ') };
}

/**
 * The container image's command for SERVICE=all (deploy/docker/entrypoint.sh: `node
 * cli/dist/main.js start`) with the node options deploy/Dockerfile sets (its NODE_OPTIONS).
 */
function containerCommand(): { nodeArgs: string[]; script: string; args: string[] } {
  return { nodeArgs: containerNodeOptions(), script: 'cli/dist/main.js', args: ['start'] };
}

/** The node options deploy/Dockerfile sets for every process of the image (its NODE_OPTIONS). */
function containerNodeOptions(): string[] {
  const options = /NODE_OPTIONS="([^"]*)"/.exec(readFileSync(path.join(root, 'deploy', 'Dockerfile'), 'utf8'))?.[1];
  if (options === undefined) throw new Error('deploy/Dockerfile sets no NODE_OPTIONS="…"');
  return options.split(/\s+/).filter(Boolean);
}

/**
 * One service as the container image runs it with SERVICE=<name> (deploy/docker/entrypoint.sh:
 * `node services/<name>/dist/main.js`, the Dockerfile's NODE_OPTIONS), its bundle built first
 * if stale: the production build, not the TypeScript source through tsx.
 */
export async function serviceCommand(name: 'gateway' | 'auth' | 'users' | 'audit'): Promise<{ nodeArgs: string[]; script: string }> {
  await ensureBuilt(`services/${name}`);
  return { nodeArgs: containerNodeOptions(), script: `services/${name}/dist/main.js` };
}

/**
 * What `npm start` runs in the checkout at `cwd`: its package.json "start" script, which must be
 * `node [node options] <script> [args]`, split into those parts (spawnNode adds `--import tsx`
 * for a .ts script itself). Run directly rather than through npm, so the RSS read from the
 * child's pid is the server's own.
 */
export function npmStartCommand(cwd: string): { nodeArgs: string[]; script: string; args: string[] } {
  const manifest = JSON.parse(readFileSync(path.join(cwd, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = manifest.scripts.start?.trim().split(/\s+/) ?? [];
  if (words.shift() !== 'node') throw new Error(`${cwd}/package.json: "start" is not "node …": ${manifest.scripts.start}`);
  const nodeArgs: string[] = [];
  while (words[0]?.startsWith('-')) {
    const flag = words.shift()!;
    const value = flag === '--import' || flag === '--require' ? words.shift() : undefined;
    if (value === 'tsx') continue;
    nodeArgs.push(flag, ...(value !== undefined ? [value] : []));
  }
  const script = words.shift();
  if (!script) throw new Error(`${cwd}/package.json: "start" names no script`);
  return { nodeArgs, script, args: words };
}

/** What the bench uses of scripts/bundle.mjs (plain JavaScript without declarations). */
export interface BundleScripts {
  targets: Array<{ label: string }>;
  ensureBundle(label: string, log: (line: string) => void): Promise<boolean>;
  bundleTarget(target: { label: string }, log: (line: string) => void, variant?: { dir: string; plugins: Plugin[] }): Promise<boolean>;
}

/** scripts/bundle.mjs, typed as the bench uses it. */
export async function bundleScripts(): Promise<BundleScripts> {
  // @ts-expect-error -- scripts/bundle.mjs is plain JavaScript without declarations
  return (await import('../../scripts/bundle.mjs')) as BundleScripts;
}

/** Builds the bundle labelled `label` (`cli`, `services/<name>`) when it is missing or older than a source, as `npm start` does. */
async function ensureBuilt(label: string): Promise<void> {
  if (!(await (await bundleScripts()).ensureBundle(label, (line) => console.log(line)))) throw new Error(`building ${label}/dist/main.js failed`);
}

/** Builds the CLI's bundle (cli/dist/main.js) when it is missing or older than a source, as `npm start` does. */
export async function ensureCliBundle(): Promise<void> {
  await ensureBuilt('cli');
}

/** Spawns `node [nodeArgs] --import tsx <script>` (a `.js` script, e.g. a dist bundle: without tsx) from the repo root (or `cwd`, another checkout) and collects its JSON log lines. */
export function spawnNode(script: string, args: string[], env: Record<string, string | undefined>, nodeArgs: string[] = [], cwd = root): Child {
  const proc = spawn(process.execPath, [...nodeArgs, ...(/\.m?js$/.test(script) ? [] : ['--import', 'tsx']), script, ...args], { cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ msg: string; resolve: (v: Record<string, unknown>) => void }> = [];
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      if (lines.length > 2000) lines.shift();
      if (!line.startsWith('{')) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        for (const w of [...waiters]) if (obj.msg === w.msg) { waiters.splice(waiters.indexOf(w), 1); w.resolve(obj); }
      } catch { /* not JSON */ }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  return {
    proc,
    lines,
    waitFor(msg, timeoutMs = 180_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for "${msg}"\n${lines.slice(-30).join('\n')}`)), timeoutMs);
        const done = (v: Record<string, unknown>) => { clearTimeout(timer); resolve(v); };
        waiters.push({ msg, resolve: done });
        proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`process exited (${code}) before "${msg}"\n${lines.slice(-30).join('\n')}`)); });
      });
    },
    async ready(base) {
      for (;;) {
        const r = await fetch(`${base}/readyz`).catch(() => undefined);
        if (r?.ok) return;
        if (proc.exitCode !== null) throw new Error(`${script} exited (${proc.exitCode}):\n${lines.slice(-20).join('\n')}`);
        await sleep(20);
      }
    },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(20_000).then(() => proc.kill('SIGKILL'))]);
    },
  };
}

/**
 * The environment of one bundled all-in-one system (`cli/dist/main.js start`) of an A/B script
 * that runs several at once on the shared servers (tracing-ab.ts, syscalls.ts): a NATS stream
 * and subject prefix of its own (`tag`), a small pool (several systems on one PostgreSQL of 100
 * connections; 32 connections of load need few pooled ones), the gateway's limits at `limit`
 * (`'0'`: off), the credential limit off, warnings only in the log.
 */
export function abSystemEnv(tag: string, port: number, limit = '0'): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    NATS_URL: process.env.NATS_URL,
    NATS_STREAM: tag.toUpperCase(),
    NATS_SUBJECT_PREFIX: tag.toLowerCase().replace(/[^a-z0-9]/g, 'x'),
    GATEHOUSE_SECRET: process.env.GATEHOUSE_SECRET,
    PORT: String(port),
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE ?? '4',
    LOG_LEVEL: 'warn',
    SHUTDOWN_DRAIN_SEC: '0',
    RATE_LIMIT_IP_MAX: limit,
    RATE_LIMIT_USER_MAX: limit,
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    MAX_IN_FLIGHT_PER_IP: '0',
  };
}

/** Resident set size of a process in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Samples a process' RSS every 250 ms while `fn` runs; returns fn's result and the peak. */
export async function withPeakRss<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peak = rssMiB(pid);
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(pid)); }, 250);
  try {
    return { result: await fn(), peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench reads loosely shaped JSON answers
export interface Http { pool: Pool; json(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>; close(): Promise<void> }

export function http(base: string): Http {
  const pool = new Pool(base, { connections: 64, pipelining: 1 });
  return {
    pool,
    async json(method, path, body, headers = {}) {
      const res = await pool.request({
        method: method as 'GET',
        path,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
    },
    close: () => pool.close(),
  };
}

/**
 * Registers `n` members (8 at a time; e-mail `<prefix>-<i>@example.com`) and returns each one's
 * access token and attendance QR token. The users service learns of a member through events, so
 * each QR token is asked for until the profile exists.
 */
export async function registerMembersWithQr(api: Http, n: number, prefix: string, password: string): Promise<{ access: string[]; qr: string[] }> {
  const access: string[] = [];
  for (let i = 0; i < n; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, n - i) }, (_, k) => api.json('POST', '/api/v1/auth/register', { email: `${prefix}-${i + k}@example.com`, password })),
    );
    for (const b of batch) access.push(b.body.accessToken);
  }
  const qr: string[] = [];
  for (const a of access) {
    for (let tries = 0; ; tries++) {
      const t = await api.json('GET', '/api/v1/users/me/qr/token', undefined, { authorization: `Bearer ${a}` });
      if (t.status === 200) { qr.push(t.body.token); break; }
      if (tries > 500) throw new Error(`no QR token: ${t.status} ${JSON.stringify(t.body)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { access, qr };
}

export interface LoadResult { rps: number; p50: number; p99: number; requests: number; non2xx: number; errors: number; connections: number; seconds: number }

/** A fixed request repeated by autocannon. */
export async function load(opts: { url: string; method?: string; headers?: Record<string, string>; body?: string; connections: number; seconds: number }): Promise<LoadResult> {
  const r = await autocannon({
    url: opts.url,
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body,
    connections: opts.connections,
    duration: opts.seconds,
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    connections: opts.connections,
    seconds: opts.seconds,
  };
}

/** Runs `worker` in `concurrency` loops for `seconds`; each call is one operation. */
export async function loop(concurrency: number, seconds: number, worker: (w: number) => Promise<boolean>): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        const t = performance.now();
        const good = await worker(w).catch(() => false);
        latencies.push(performance.now() - t);
        if (good) ok += 1;
        else failed += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: ok / seconds, p50: pct(50), p99: pct(99), requests: ok + failed, non2xx: failed, errors: 0, connections: concurrency, seconds };
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return { cpus: os.cpus().length, cpu, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: `${os.type()} ${os.release()}` };
}

export const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');

/** Deletes a JetStream stream a bench run made (its own, so no run inherits another's consumers). */
export async function deleteStream(url: string, stream: string) {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
  await nc.close();
}

/** Drops the services' schemas of a scratch database (`DATABASE_URL` of a bench), so a run starts empty. */
export async function resetDatabase(url: string | undefined) {
  if (!url) return;
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('drop schema if exists auth cascade; drop schema if exists users cascade; drop schema if exists audit cascade;');
  await c.end();
}

/**
 * `VACUUM (ANALYZE)` of a bench's scratch database, before a measured phase that follows many
 * writes; returns the server's `autovacuum` setting. PostgreSQL servers run autovacuum (on by
 * default), which keeps the hot rows' dead versions and the planner's statistics current; a
 * server with it off (this machine's shared one has `autovacuum = off`) measured refresh
 * rotations at a fifth of their rate after a few runs on one database (107 vs 510-547/s on a
 * fresh one, 514/s again after a VACUUM ANALYZE), which says nothing of Gatehouse.
 */
export async function vacuumAnalyze(url: string | undefined): Promise<string | undefined> {
  if (!url) return undefined;
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('vacuum (analyze)');
    return String((await c.query<{ autovacuum: string }>('show autovacuum')).rows[0]?.autovacuum);
  } finally {
    await c.end();
  }
}
