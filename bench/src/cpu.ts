/**
 * `BENCH_ONLY=cpu npm run bench` (issue 13 item 1): server CPU per request on the production
 * build. Runs the bundled `node cli/dist/main.js start` (run `npm run build` first, also in the
 * base checkout) on a scratch PostgreSQL database of its own (`gh_perf_bench`, created and
 * dropped here), and for each endpoint — login, refresh, me, register, check-in — measures
 * req/s and the server process' CPU (user + system of every thread, /proc/<pid>/stat) per
 * request. With BENCH_BASE_ROOT (another checkout, also built) it alternates A (base) and B
 * (this checkout) for BENCH_ROUNDS rounds, each on a fresh database; the figures are medians.
 * BENCH_CPU_PROF=<dir> starts the servers with `--cpu-prof` into <dir>/<side><round>.
 * Beside login/s: the argon2id verify ceiling at the auth service's parameters, measured by the
 * bench process in the same round (8 concurrent verifies, as `npm run bench` does).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hash, verify, type Options } from '@node-rs/argon2';
import { fmt, http, load, loop, registerMembersWithQr, root, spawnNode, vacuumAnalyze, type LoadResult } from './lib';
import { cpuMarkdown, ENDPOINTS, median, pgText, type CpuFigures, type CpuRound, type CpuRun, type Endpoint, type PgCounts } from './cpu.report';

const PASSWORD = 'bench password that is long enough';
const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

/** Where the server's statement tally goes on SIGUSR2 (bench/src/pg-count-hook.mjs). */
const PG_COUNT_FILE = path.join(os.tmpdir(), `gh-bench-pg-count-${process.pid}.json`);
const PG_HOOK = path.join(path.dirname(new URL(import.meta.url).pathname), 'pg-count-hook.mjs');

/** The server's statement tally so far (asks for it with SIGUSR2, waits for the file). */
export async function pgCounts(pid: number): Promise<PgCounts> {
  rmSync(PG_COUNT_FILE, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200 && !existsSync(PG_COUNT_FILE); i++) await sleep(10);
  // written with one writeFileSync: wait a moment in case the file is still being written
  await sleep(20);
  const { sql: bySql, ...counts } = JSON.parse(readFileSync(PG_COUNT_FILE, 'utf8')) as PgCounts & { sql?: PgCounts };
  if (bySql) lastSql.set(pid, bySql);
  return counts;
}

/** BENCH_PG_COUNT_SQL=1: the server also tallies by statement text; the last tally read, per server. */
const lastSql = new Map<number, PgCounts>();

/** BENCH_PG_COUNT_SQL=1: prints the statements per request by text between two tallies. */
function printSqlDelta(label: string, before: PgCounts | undefined, after: PgCounts | undefined, n: number): void {
  if (!before || !after) return;
  const rows = Object.entries(after)
    .map(([k, v]) => [k, (v - (before[k] ?? 0)) / n] as const)
    .filter(([, v]) => v > 0.05)
    .sort((a, b) => b[1] - a[1]);
  console.log(`statements per request by text, ${label}:\n` + rows.map(([k, v]) => `  ${fmt(v, 2)}  ${k}`).join('\n'));
}

/** (after − before) / n per bucket, plus `total`. */
function pgDelta(after: PgCounts, before: PgCounts, n: number): PgCounts {
  const out: PgCounts = {};
  let total = 0;
  for (const k of Object.keys(after)) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    out[k] = d / n;
    total += d;
  }
  out.total = total / n;
  return out;
}

/** user + system CPU of a process, every thread, in ms (Linux /proc/<pid>/stat fields 14, 15). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** CPU ms of a process' threads by kind: the JS thread, the pools (libuv's: crypto jobs, and before the argon2 worker pool argon2; worker threads: argon2), the rest (V8's GC and compiler threads). */
export function threadCpuMs(pid: number): { main: number; pool: number; other: number } {
  const out = { main: 0, pool: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * TICK_MS;
      if (comm === 'MainThread' || tid === String(pid)) out.main += ms;
      else if (comm === 'libuv-worker' || comm === 'WorkerThread') out.pool += ms;
      else out.other += ms;
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

/**
 * CPU ms (user + system, /proc/<pid>/stat) of each PostgreSQL backend connected to the
 * round's scratch database, by pid: the server side of the statements (parse, plan, execute).
 * Only when PostgreSQL runs on this host (a URL to 127.0.0.1/localhost); the sampling client
 * connects to the bench's own database, so it is not counted.
 */
async function backendCpu(dbUrl: string | undefined): Promise<Map<number, number> | undefined> {
  const admin = process.env.DATABASE_URL;
  if (!dbUrl || !admin || !/^(127\.0\.0\.1|localhost|\[::1\])$/.test(new URL(dbUrl).hostname)) return undefined;
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1 and backend_type = 'client backend'`, [decodeURIComponent(new URL(dbUrl).pathname.slice(1))]);
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        out.set(pid, cpuMs(pid));
      } catch {
        // a backend that ended meanwhile
      }
    }
    return out;
  } finally {
    await c.end();
  }
}

/** CPU ms the backends spent between two samples: those present at the end (a new one from 0); one that ended meanwhile is lost (the pools keep theirs for 30 s idle). */
function backendDelta(before: Map<number, number> | undefined, after: Map<number, number> | undefined): number | undefined {
  if (!before || !after) return undefined;
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0);
  return sum;
}

async function measured(pid: number, run: () => Promise<LoadResult>, dbUrl?: string): Promise<CpuRun> {
  // the scratch database took writes (registrations, the warm-up): current statistics and no
  // dead rows to wade through, as autovacuum keeps a server; this machine's runs with it off
  await vacuumAnalyze(dbUrl);
  const pg0 = await pgCounts(pid);
  const sql0 = lastSql.get(pid);
  const b0 = await backendCpu(dbUrl);
  const c0 = cpuMs(pid);
  const th0 = threadCpuMs(pid);
  const t0 = performance.now();
  const r = await run();
  const cpu = cpuMs(pid) - c0;
  const th1 = threadCpuMs(pid);
  const wall = performance.now() - t0;
  const backend = backendDelta(b0, await backendCpu(dbUrl));
  const pg1 = await pgCounts(pid);
  printSqlDelta('under load', sql0, lastSql.get(pid), r.requests);
  const per = (x: number) => (r.requests ? x / r.requests : NaN);
  return {
    pgPerReq: pgDelta(pg1, pg0, r.requests),
    ...r,
    cpuMsPerReq: per(cpu),
    ...(backend !== undefined ? { pgBackendCpuMsPerReq: per(backend) } : {}),
    cpuCores: cpu / wall,
    threadsMsPerReq: { main: per(th1.main - th0.main), pool: per(th1.pool - th0.pool), other: per(th1.other - th0.other) },
  };
}


/** One side's run: a fresh database, the dist build started, every endpoint loaded in turn. */
async function oneRound(
  side: 'A' | 'B',
  checkout: string,
  round: number,
  env: Record<string, string | undefined>,
  base: string,
  seconds: number,
  admin: { email: string; password: string },
): Promise<CpuRound> {
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = ['--import', PG_HOOK, ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.join(prof, `${side}${round}`)}`] : [])];
  if (prof) await mkdir(path.join(prof, `${side}${round}`), { recursive: true });
  const child = spawnNode('cli/dist/main.js', ['start'], { ...env, BENCH_PG_COUNT_FILE: PG_COUNT_FILE, BENCH_PG_COUNT_SQL: process.env.BENCH_PG_COUNT_SQL }, nodeArgs, checkout);
  const api = http(base);
  try {
    await child.waitFor('gatehouse ready');
    await child.ready(base);
    const pid = child.proc.pid!;
    const stamp = `${side}${round}-${Date.now().toString(36)}`;
    const users: Array<{ email: string; access: string; refresh: string }> = [];
    for (let i = 0; i < 40; i += 8) {
      const batch = await Promise.all(
        Array.from({ length: 8 }, (_, k) => api.json('POST', '/api/v1/auth/register', { email: `cpu-${i + k}-${stamp}@example.com`, password: PASSWORD })),
      );
      for (const [k, r] of batch.entries()) {
        if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
        users.push({ email: `cpu-${i + k}-${stamp}@example.com`, access: r.body.accessToken, refresh: r.body.refreshToken });
      }
    }
    const runs = {} as Record<Endpoint, CpuRun>;
    // the process' own background work (pollers, timers) with no requests: CPU ms per second
    await sleep(1000);
    const ipg0 = await pgCounts(pid);
    const i0 = cpuMs(pid);
    const ith0 = threadCpuMs(pid);
    const it = performance.now();
    await sleep(4000);
    const idleSec = (performance.now() - it) / 1000;
    const idleCpuMsPerSec = (cpuMs(pid) - i0) / idleSec;
    const ith1 = threadCpuMs(pid);
    const idleThreads = { main: (ith1.main - ith0.main) / idleSec, pool: (ith1.pool - ith0.pool) / idleSec, other: (ith1.other - ith0.other) / idleSec };
    const idlePgPerSec = pgDelta(await pgCounts(pid), ipg0, idleSec);

    // login: autocannon, 8 connections, one account; beside it the argon2id ceiling
    const params = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as unknown as Options;
    const stored = await hash(PASSWORD, params);
    // the ceiling, and the CPU one verification costs (this process is otherwise idle meanwhile)
    const c0 = process.cpuUsage();
    const ceilingRun = ENDPOINTS.includes('login') ? await loop(8, seconds, async () => verify(stored, PASSWORD)) : undefined;
    const c1 = process.cpuUsage(c0);
    const ceiling = ceilingRun?.rps ?? NaN;
    const argon2CpuMs = ceilingRun ? (c1.user + c1.system) / 1000 / ceilingRun.requests : NaN;
    const loginReq = { url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: users[0]!.email, password: PASSWORD }) };
    if (ENDPOINTS.includes('login')) await load({ ...loginReq, connections: 8, seconds: 2 });
    if (ENDPOINTS.includes('login')) runs.login = await measured(pid, () => load({ ...loginReq, connections: 8, seconds }), env.DATABASE_URL);
    // statements per login without concurrency (nothing to batch with): one at a time, each
    // followed by 300 ms for its fan-out (outbox relay, audit, webhooks consumers)
    let sequentialLoginPg: PgCounts | undefined;
    let sequentialLoginCpu: CpuRound['sequentialLoginCpu'];
    if (ENDPOINTS.includes('login')) {
      await sleep(1000);
      const s0 = await pgCounts(pid);
      const sql0 = lastSql.get(pid);
      const n = 20;
      const th0 = threadCpuMs(pid);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await api.json('POST', '/api/v1/auth/login', { email: users[0]!.email, password: PASSWORD });
        if (r.status !== 200) throw new Error(`login failed: ${r.status}`);
        await sleep(300);
      }
      const th1 = threadCpuMs(pid);
      const sec = (performance.now() - t0) / 1000;
      const per = (k: 'main' | 'pool' | 'other') => (th1[k] - th0[k] - idleThreads[k] * sec) / n;
      sequentialLoginCpu = { main: per('main'), pool: per('pool'), other: per('other') };
      sequentialLoginPg = pgDelta(await pgCounts(pid), s0, n);
      printSqlDelta('logins one at a time', sql0, lastSql.get(pid), n);
    }

    // refresh: 32 workers, each following its own chain
    const chains = users.slice(1, 33).map((u) => u.refresh);
    const rotate = async (w: number) => {
      const r = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: chains[w] });
      if (r.status !== 200) return false;
      chains[w] = r.body.refreshToken;
      return true;
    };
    if (ENDPOINTS.includes('refresh')) await loop(chains.length, 2, rotate);
    if (ENDPOINTS.includes('refresh')) runs.refresh = await measured(pid, () => loop(chains.length, seconds, rotate), env.DATABASE_URL);

    // me: GET /api/v1/auth/me through the gateway, 32 connections, one token
    const meReq = { url: `${base}/api/v1/auth/me`, headers: { authorization: `Bearer ${users[0]!.access}` } };
    if (ENDPOINTS.includes('me')) await load({ ...meReq, connections: 32, seconds: 2 });
    if (ENDPOINTS.includes('me')) runs.me = await measured(pid, () => load({ ...meReq, connections: 32, seconds }), env.DATABASE_URL);

    // register: 8 workers, a new address each time
    let n = 0;
    const register = async () => (await api.json('POST', '/api/v1/auth/register', { email: `cpu-r-${n++}-${stamp}@example.com`, password: PASSWORD })).status === 201;
    if (ENDPOINTS.includes('register')) await loop(8, 2, register);
    if (ENDPOINTS.includes('register')) runs.register = await measured(pid, () => loop(8, seconds, register), env.DATABASE_URL);

    if (ENDPOINTS.includes('checkIn')) runs.checkIn = await checkIns(api, pid, seconds, stamp, admin, env.DATABASE_URL);
    const round_: CpuRound = { side, root: checkout, ceiling, argon2CpuMs, idleCpuMsPerSec, idlePgPerSec, sequentialLoginPg, sequentialLoginCpu, runs };
    console.log(
      `cpu ${side}${round} (${checkout}): idle ${fmt(idleCpuMsPerSec, 1)} ms CPU/s; ceiling ${fmt(ceiling)}/s, ${fmt(argon2CpuMs, 2)} ms CPU per verify; ` +
        ENDPOINTS.map((e) => `${e} ${fmt(runs[e].rps)}/s ${fmt(runs[e].cpuMsPerReq, 2)} ms, PostgreSQL backends ${fmt(runs[e].pgBackendCpuMsPerReq ?? NaN, 2)} ms [JS ${fmt(runs[e].threadsMsPerReq.main, 2)}, pool ${fmt(runs[e].threadsMsPerReq.pool, 2)}, other ${fmt(runs[e].threadsMsPerReq.other, 2)}] (failed ${runs[e].non2xx}) pg/req ${pgText(runs[e].pgPerReq)}`).join('; ') +
        `; idle pg/s ${pgText(idlePgPerSec)}` + (sequentialLoginPg ? `; one login at a time pg/login ${pgText(sequentialLoginPg)}` : '') +
        (sequentialLoginCpu ? `; one login at a time CPU ms/login [JS ${fmt(sequentialLoginCpu.main, 2)}, pool ${fmt(sequentialLoginCpu.pool, 2)}, other ${fmt(sequentialLoginCpu.other, 2)}]` : ''),
    );
    return round_;
  } finally {
    await api.close();
    await child.stop();
  }
}

/** Unique check-ins through the gateway: 16 scanners over (event, member) pairs. */
async function checkIns(api: ReturnType<typeof http>, pid: number, seconds: number, stamp: string, admin: { email: string; password: string }, dbUrl?: string): Promise<CpuRun> {
  const adm = await api.json('POST', '/api/v1/auth/login', admin);
  if (adm.status !== 200) throw new Error(`admin login failed: ${adm.status}`);
  const org = await api.json('POST', '/api/v1/auth/register', { email: `cpu-org-${stamp}@example.com`, password: PASSWORD });
  const grant = await api.json('PATCH', `/api/v1/admin/users/${org.body.user.id}`, { roles: ['user', 'organizer'] }, { authorization: `Bearer ${adm.body.accessToken}` });
  if (grant.status !== 200) throw new Error(`grant organizer failed: ${grant.status} ${JSON.stringify(grant.body)}`);
  const orgTokens = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: org.body.refreshToken });
  const orgAuth = { authorization: `Bearer ${orgTokens.body.accessToken}` };
  const members = 120;
  const { qr } = await registerMembersWithQr(api, members, `cpu-m-${stamp}`, PASSWORD);
  const now = Date.now();
  const events: string[] = [];
  const newEvent = async () => {
    const ev = await api.json('POST', '/api/v1/events', { title: 'CPU bench', startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3600_000).toISOString(), lateAfterMinutes: 10 }, orgAuth);
    if (ev.status !== 201) throw new Error(`event create failed: ${ev.status} ${JSON.stringify(ev.body)}`);
    events.push(ev.body.id);
  };
  // enough (event, member) pairs for the warm-up and a run well above the rates seen so far
  for (let i = 0; i < Math.ceil(((seconds + 2) * 1500) / members); i++) await newEvent();
  let next = 0;
  const scan = async () => {
    const i = next++;
    if (i >= events.length * members) return false;
    const r = await api.json('POST', `/api/v1/events/${events[Math.floor(i / members)]}/check-ins`, { qrToken: qr[i % members] }, orgAuth);
    return r.status === 201;
  };
  await loop(16, 2, scan);
  const run = await measured(pid, () => loop(16, seconds, scan), dbUrl);
  if (next >= events.length * members) throw new Error('check-in pairs ran out: raise the number of events');
  return run;
}

export async function measureCpu(
  env: Record<string, string | undefined>,
  base: string,
  seconds: number,
  opts: { baseRoot?: string; rounds: number; reset: () => Promise<Record<string, string | undefined>>; admin: { email: string; password: string } },
): Promise<CpuFigures> {
  const sides: Array<{ side: 'A' | 'B'; root: string; round: number }> = [];
  for (let i = 0; i < opts.rounds; i++) {
    if (opts.baseRoot) sides.push({ side: 'A', root: opts.baseRoot, round: i + 1 });
    sides.push({ side: 'B', root, round: i + 1 });
  }
  const rounds: CpuRound[] = [];
  for (const s of sides) {
    const roundEnv = await opts.reset();
    rounds.push(await oneRound(s.side, s.root, s.round, { ...env, ...roundEnv }, base, seconds, opts.admin));
  }
  const median_: CpuFigures['median'] = { A: {}, B: {} };
  for (const side of ['A', 'B'] as const) {
    const mine = rounds.filter((r) => r.side === side);
    if (!mine.length) continue;
    for (const e of ENDPOINTS) {
      median_[side][e] = {
        rps: median(mine.map((r) => r.runs[e].rps)),
        cpuMsPerReq: median(mine.map((r) => r.runs[e].cpuMsPerReq)),
        jsMsPerReq: median(mine.map((r) => r.runs[e].threadsMsPerReq.main)),
        pgBackendCpuMsPerReq: median(mine.map((r) => r.runs[e].pgBackendCpuMsPerReq ?? NaN)),
      };
    }
    median_[side].ceiling = median(mine.map((r) => r.ceiling));
    median_[side].argon2CpuMs = median(mine.map((r) => r.argon2CpuMs));
    if (ENDPOINTS.includes('login')) median_[side].loginRatio = median(mine.map((r) => r.runs.login.rps / r.ceiling));
  }
  return { rounds, median: median_, seconds };
}

/** `cpu`'s dispatch from run.ts: a scratch database per round, then the report files. */
export async function runCpuBench(
  env: Record<string, string | undefined>,
  base: string,
  seconds: number,
  admin: { email: string; password: string },
  report: Record<string, unknown>,
  settings: Record<string, string>,
): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('BENCH_ONLY=cpu needs DATABASE_URL (the server build on PostgreSQL)');
  const pg = (await import('pg')).default;
  const scratch = new URL(url);
  const dbName = process.env.BENCH_CPU_DB ?? 'gh_perf_bench';
  if (!/^[a-z_][a-z0-9_]*$/.test(dbName)) throw new Error('BENCH_CPU_DB must be a plain lower-case identifier');
  scratch.pathname = `/${dbName}`;
  const admin_ = async (q: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { await c.query(q); } finally { await c.end(); }
  };
  const streams: string[] = [];
  const { writeFile } = await import('node:fs/promises');
  try {
    report.load = os.loadavg();
    report.cpu = await measureCpu(env, base, seconds, {
      baseRoot: process.env.BENCH_BASE_ROOT,
      rounds: Number(process.env.BENCH_ROUNDS ?? 2),
      admin,
      reset: async () => {
        await admin_(`drop database if exists ${dbName} with (force)`);
        await admin_(`create database ${dbName}`);
        const stream = `BENCH_CPU_${Date.now().toString(36)}`;
        streams.push(stream);
        return { DATABASE_URL: scratch.toString(), NATS_STREAM: stream, NATS_SUBJECT_PREFIX: stream.toLowerCase(), QR_TOKEN_TTL_SEC: '3600' };
      },
    });
    report.loadAfter = os.loadavg();
  } finally {
    await admin_(`drop database if exists ${dbName} with (force)`);
    if (process.env.NATS_URL) {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: process.env.NATS_URL });
      const jsm = await jetstreamManager(nc);
      for (const s of streams) await jsm.streams.delete(s).catch(() => false);
      await nc.close();
    }
  }
  const dir = path.join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const name = `${String(report.date).slice(0, 10)}-servers-cpu${process.env.BENCH_SUFFIX ?? ''}`;
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  const m = report.machine as { cpus: number; cpu: string; memoryGiB: number; os: string; node: string };
  const la = (x: unknown) => (x as number[]).map((v) => v.toFixed(1)).join(' / ');
  const head =
    `# Server CPU per request, production build ${String(report.date).slice(0, 10)} (servers)\n\n` +
    `Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback; shared with other jobs (load average 1/5/15 min before ${la(report.load)}, after ${la(report.loadAfter)}). ` +
    `\`node cli/dist/main.js start\` (after \`npm run build\`) on PostgreSQL/Redis/NATS, a fresh scratch database per round; each run ${seconds} s after a 2 s warm-up; CPU = user + system of the server process (all threads, /proc/<pid>/stat) over the run / requests completed. ` +
    `A = ${process.env.BENCH_BASE_ROOT ? `\`${process.env.BENCH_BASE_ROOT}\` (main)` : '–'}, B = this checkout, rounds interleaved A B A B, medians. Rate limits: ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(', ')}. ` +
    `\`BENCH_ONLY=cpu BENCH_BASE_ROOT=<built checkout of main> npm run bench\`.\n\n`;
  await writeFile(path.join(dir, `${name}.md`), head + cpuMarkdown(report.cpu as CpuFigures));
  console.log(`wrote bench/results/${name}.md`);
}
