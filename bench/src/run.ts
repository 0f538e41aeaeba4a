/**
 * `npm run bench`: starts the whole system as `npm start` would (one process), plus a bare
 * proxy baseline, drives it over loopback, and writes the figures to bench/results/.
 *
 * Uses PostgreSQL/Redis/NATS when DATABASE_URL/REDIS_URL/NATS_URL are set (the bench is an
 * entry point, so it reads the environment), else the embedded backends. Every rate limit of
 * the gateway is turned off (RATE_LIMIT_*_MAX=0) and credential throttling raised so the
 * figures measure the code path, not the limiter; the report states these settings.
 * BENCH_SECONDS (default 10) sets each load run's length. `npm run bench -- enumeration` runs
 * only the login-timing comparison (enumeration.ts) and writes `<date>-<mode>-enumeration.*`.
 */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hash, verify, type Options } from '@node-rs/argon2';
import { ensureCliBundle, fmt, freePort, http, load, loop, machine, productionCommand, root, rssMiB, spawnNode, withPeakRss, deleteStream, resetDatabase, vacuumAnalyze } from './lib';
import { startBareProxies } from './gateway-proxy';
import { gatewayAbMarkdown, measureGatewayAb, type GatewayAbFigures } from './gateway-ab';
import { measureIngestion } from './inprocess';
import { measureRls, measureRlsAB, rlsMarkdown } from './rls';
import { measureRlsVariants, rlsVariantsMarkdown } from './rls-variants';
import { benchLoginTiming, timingMarkdown } from './enumeration';
import { measureTracingCost } from './tracing';
import { measureOidc, oidcMarkdown, type OidcFigures } from './oidc';
import { measurePeer, peerMarkdown, type PeerFigures } from './peer';
import { measureRefresh, refreshMarkdown, type RefreshFigures } from './refresh';
import { runCpuBench } from './cpu';
import { writeDated, writeResults, writeTracingResults } from './results';
import { heapMarkdown, measureHeap } from './heap';
import { benchAuditLatency, benchCheckIns } from './flows';
import { runScale } from './scale/run';
import { benchEmbeddedOnly } from './embedded';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const real = Boolean(process.env.DATABASE_URL || process.env.REDIS_URL || process.env.NATS_URL);
const mode = real ? 'servers' : 'embedded';
const ADMIN = { email: 'bench-admin@example.com', password: 'bench admin password 2026' };
const ONLY = process.argv[2];
/** Loads at which unknown-account and wrong-password logins are compared. */
const TIMING_CONCURRENCY = [1, 8, 32];

const limits = {
  RATE_LIMIT_IP_MAX: '0',
  RATE_LIMIT_USER_MAX: '0',
  RATE_LIMIT_CREDENTIALS_MAX: '0',
  // every load connection comes from 127.0.0.1
  MAX_IN_FLIGHT_PER_IP: '0',
  THROTTLE_IP_MAX_FAILURES: '100000000',
  // the login-timing runs fail each account a few dozen times; none may reach its lock
  THROTTLE_ACCOUNT_MAX_FAILURES: '100',
};

async function main() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-bench-'));
  const runId = Date.now().toString(36);
  /** Removes the run's data directory and its NATS stream (the BENCH_ONLY modes' clean-up). */
  const cleanUp = async () => {
    await rm(dataDir, { recursive: true, force: true });
    if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
  };
  /** The machine and the load average before and after (`report.load`, `report.loadAfter`), for a result's header. */
  const machineAndLoad = () => {
    const m = report.machine as ReturnType<typeof machine>;
    const la = (x: unknown) => (x as number[]).map((v) => v.toFixed(1)).join(' / ');
    return { machine: `${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}`, load: `load average 1/5/15 min before ${la(report.load)}, after ${la(report.loadAfter)}` };
  };
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    NATS_URL: process.env.NATS_URL,
    // a stream of its own: a fresh deployment must not inherit consumer positions of another
    NATS_STREAM: `BENCH_${runId}`,
    NATS_SUBJECT_PREFIX: `bench${runId}`,
    GATEHOUSE_SECRET: process.env.GATEHOUSE_SECRET ?? (real ? 'bench-secret-bench-secret-bench-secret' : undefined),
    PORT: String(port),
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    // no balancer in front: nothing to drain when a run's process is stopped
    SHUTDOWN_DRAIN_SEC: '0',
    GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    ...limits,
  };
  const base = `http://127.0.0.1:${port}`;
  const report: Record<string, unknown> = { date: new Date().toISOString(), mode, machine: machine(), seconds: SECONDS, settings: limits };
  // --scale / BENCH_ONLY=scale: cost as data grows (issue 13 item 4), written to <day>-servers-scale.*
  if (ONLY === '--scale' || process.env.BENCH_ONLY === 'scale') {
    try {
      await runScale(env, base, limits, (name) => (process.env.NATS_URL ? deleteStream(process.env.NATS_URL, name) : Promise.resolve()));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
    }
    return;
  }
  // BENCH_ONLY=embedded: one PGlite vs one per service, before and after (issue 13), embedded.ts
  if (process.env.BENCH_ONLY === 'embedded') {
    await rm(dataDir, { recursive: true, force: true });
    return benchEmbeddedOnly(report, SECONDS);
  }
  // BENCH_ONLY=heap: the young generation's size vs RSS and CPU (issue 13), heap.ts
  if (process.env.BENCH_ONLY === 'heap') {
    if (real) await resetDatabase(process.env.DATABASE_URL);
    try {
      report.load = os.loadavg();
      const heap = await measureHeap(env, SECONDS);
      report.heap = heap;
      report.loadAfter = os.loadavg();
      const m = report.machine as ReturnType<typeof machine>;
      const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
      const head = `# Young generation size vs memory and CPU ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback (load average 1/5/15 min before ${la(report.load as number[])}, after ${la(report.loadAfter as number[])}). The bundled \`node cli/dist/main.js start\` per variant, rounds interleaved, medians; each run ${SECONDS} s. Rate limits: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(', ')}. \`npm run build && BENCH_ONLY=heap [BENCH_HEAP_VARIANTS=…] [BENCH_BASE_ROOT=<built checkout>] npm run bench\`${process.env.BENCH_BASE_ROOT ? `; \`base\`: the checkout at ${process.env.BENCH_BASE_ROOT}` : ''}.\n\n`;
      await writeDated(report, 'heap', head + heapMarkdown(heap));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
    }
    return;
  }
  // BENCH_ONLY=tracing: only the cost of tracing (issue 15), written to <day>-<mode>-tracing.*
  if (process.env.BENCH_ONLY === 'tracing') {
    if (real) await resetDatabase(process.env.DATABASE_URL);
    try {
      report.load = os.loadavg();
      report.tracing = await measureTracingCost(env, SECONDS, real);
      report.loadAfter = os.loadavg();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
    }
    await writeTracingResults(report);
    return;
  }
  // BENCH_ONLY=oidc: only the OpenID provider's figures (issue 11), written to <day>-<mode>-oidc.*
  if (process.env.BENCH_ONLY === 'oidc') {
    if (real) await resetDatabase(process.env.DATABASE_URL);
    try {
      report.oidc = await measureOidc(env, SECONDS, ADMIN);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
    }
    const m = report.machine as { cpus: number; cpu: string; memoryGiB: number; os: string; node: string };
    const head = `# OpenID provider ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback. Each run ${SECONDS} s. \`BENCH_ONLY=oidc npm run bench\`.\n\n`;
    await writeDated(report, 'oidc', head + oidcMarkdown(report.oidc as OidcFigures));
    return;
  }
  // BENCH_ONLY=refresh: refresh rotations/s, A/B against BENCH_BASE_ROOT when set (issue 13)
  if (process.env.BENCH_ONLY === 'refresh') {
    try {
      report.load = os.loadavg();
      report.refreshAB = await measureRefresh(env, base, SECONDS, {
        baseRoot: process.env.BENCH_BASE_ROOT,
        rounds: Number(process.env.BENCH_ROUNDS ?? 2),
        reset: async () => {
          if (real) await resetDatabase(process.env.DATABASE_URL);
          await rm(dataDir, { recursive: true, force: true });
          await mkdir(dataDir, { recursive: true });
        },
      });
      report.loadAfter = os.loadavg();
    } finally {
      await cleanUp();
    }
    const ml = machineAndLoad();
    const head = `# Refresh rotations ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${ml.machine}; load generator on the same cores, over loopback; shared with other jobs (${ml.load}). Each run ${SECONDS} s after a 2 s warm-up. Rate limits: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(', ')}. \`BENCH_ONLY=refresh BENCH_BASE_ROOT=<checkout of the base> npm run bench\`.\n\n`;
    await writeDated(report, 'refresh', head + refreshMarkdown(report.refreshAB as RefreshFigures));
    return;
  }
  // BENCH_ONLY=gateway: the gateway process's CPU per request, A/B against BENCH_BASE_ROOT (issue 13), gateway-ab.ts
  if (process.env.BENCH_ONLY === 'gateway') {
    if (!process.env.BENCH_BASE_ROOT) throw new Error('BENCH_ONLY=gateway needs BENCH_BASE_ROOT (a built checkout to compare with)');
    try {
      if (real) await resetDatabase(process.env.DATABASE_URL);
      report.load = os.loadavg();
      report.gatewayAB = await measureGatewayAb(env, { baseRoot: process.env.BENCH_BASE_ROOT, rounds: Number(process.env.BENCH_ROUNDS ?? 6), seconds: SECONDS });
      report.loadAfter = os.loadavg();
    } finally {
      await cleanUp();
    }
    const ml = machineAndLoad();
    const head = `# Gateway CPU per request, A/B ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${ml.machine}; load generator on the same cores, over loopback (${ml.load}). Rate limits: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(', ')}. \`npm run build && BENCH_ONLY=gateway BENCH_BASE_ROOT=<built checkout> npm run bench\` (BENCH_ROUNDS, BENCH_SECONDS).\n\n`;
    await writeDated(report, 'gateway-ab', head + gatewayAbMarkdown(report.gatewayAB as GatewayAbFigures));
    return;
  }
  // BENCH_ONLY=rls: the cost of RLS per transaction, A/B against BENCH_BASE_ROOT when set (issue 13), rls.ts
  if (process.env.BENCH_ONLY === 'rls') {
    await rm(dataDir, { recursive: true, force: true });
    const rls = await measureRlsAB(process.env.DATABASE_URL, {
      baseRoot: process.env.BENCH_BASE_ROOT,
      rounds: Number(process.env.BENCH_ROUNDS ?? 30),
      txPerPhase: Number(process.env.BENCH_TX ?? 300),
    });
    report.rls = rls;
    // where the cost lies, variant by variant (rls-variants.ts)
    const variants = process.env.BENCH_RLS_VARIANTS && process.env.DATABASE_URL
      ? await measureRlsVariants(process.env.DATABASE_URL, { rounds: Number(process.env.BENCH_ROUNDS ?? 30), block: Number(process.env.BENCH_TX ?? 300) / 3 })
      : undefined;
    report.rlsVariants = variants;
    const m = report.machine as { cpus: number; cpu: string; memoryGiB: number; os: string; node: string };
    const head = `# RLS cost per transaction ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; shared with other jobs. \`BENCH_ONLY=rls BENCH_BASE_ROOT=<checkout of the base> [BENCH_RLS_VARIANTS=1] npm run bench\` (BENCH_ROUNDS, BENCH_TX).\n\n`;
    // a second run of a day is -runN beside the first, never over it (its hand-written reading)
    await writeDated(report, 'rls', head + rlsMarkdown(rls) + (variants ? `\n## Variants on plain node-postgres\n\n${rlsVariantsMarkdown(variants)}` : ''));
    console.log(rlsMarkdown(rls));
    if (variants) console.log(rlsVariantsMarkdown(variants));
    return;
  }
  // BENCH_ONLY=cpu: server CPU per request on the dist build, A/B against BENCH_BASE_ROOT (issue 13)
  if (process.env.BENCH_ONLY === 'cpu') return runCpuBench(env, base, SECONDS, ADMIN, report, limits);
  // BENCH_ONLY=peer: Better Auth beside Gatehouse on the same PostgreSQL (issue 13 item 5)
  if (process.env.BENCH_ONLY === 'peer') {
    if (!process.env.DATABASE_URL) throw new Error('BENCH_ONLY=peer needs DATABASE_URL (the peer runs on PostgreSQL)');
    await resetDatabase(process.env.DATABASE_URL);
    const child = spawnNode('cli/src/main.ts', ['start'], env);
    try {
      await child.waitFor('gatehouse ready');
      await child.ready(base);
      report.load = os.loadavg();
      report.peer = await measurePeer(base, process.env.DATABASE_URL, SECONDS, Number(process.env.BENCH_ROUNDS ?? 2), env);
      report.loadAfter = os.loadavg();
    } finally {
      await child.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
    }
    const m = report.machine as { cpus: number; cpu: string; memoryGiB: number; os: string; node: string };
    const la = (x: unknown) => (x as number[]).map((v) => v.toFixed(1)).join(' / ');
    const head = `# Gatehouse and a peer (Better Auth) ${String(report.date).slice(0, 10)} (${mode})\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback; shared with other jobs (load average 1/5/15 min before ${la(report.load)}, after ${la(report.loadAfter)}). Each run ${SECONDS} s. Gatehouse rate limits: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(', ')}; Better Auth rateLimit.enabled=false. \`BENCH_ONLY=peer npm run bench\`.\n\n`;
    await writeDated(report, 'peer', head + peerMarkdown(report.peer as PeerFigures));
    return;
  }
  console.log(`bench: ${mode} mode, ${SECONDS} s per run, data in ${dataDir}`);

  // ---- start-up: cold (empty data dir) and warm (second start) ----
  // The production bundle as production runs it (issue 13: figures of the production build):
  // with servers as the container image does (deploy/Dockerfile's NODE_OPTIONS, entrypoint.sh),
  // embedded as `npm start` does (package.json); built first if stale. Until 2026-12-07 this ran
  // cli/src/main.ts through tsx, whose loader alone held ~80 MiB of the idle RSS it reported.
  const system = productionCommand(real);
  await ensureCliBundle();
  async function startSystem() {
    const t0 = performance.now();
    const child = spawnNode(system.script, system.args, env, system.nodeArgs);
    const ready = await child.waitFor('gatehouse ready');
    await child.ready(base);
    return { child, ms: performance.now() - t0, services: ready.services as Record<string, { port: number }> };
  }
  if (real) await resetDatabase(process.env.DATABASE_URL);
  if (ONLY === 'enumeration') return benchEnumerationOnly(startSystem, base, report, dataDir, runId);
  if (ONLY) throw new Error(`unknown scenario ${ONLY} (known: enumeration)`);
  let sys = await startSystem();
  const coldMs = sys.ms;
  await sys.child.stop();
  sys = await startSystem();
  report.startup = { coldMs, warmMs: sys.ms, command: system.command };
  console.log(`start-up to ready: cold ${fmt(coldMs)} ms, warm ${fmt(sys.ms)} ms`);
  const pid = sys.child.proc.pid!;
  await sleep(3000);
  const idleRss = rssMiB(pid);
  console.log(`RSS idle: ${fmt(idleRss, 1)} MiB`);

  // ---- bare proxies straight to auth and users (gateway-proxy.ts) ----
  const bare = await startBareProxies(env, sys.services);

  const api = http(base);
  try {
    // ---- users for the runs ----
    const users: Array<{ email: string; password: string; access: string; refresh: string; id: string }> = [];
    const password = 'bench password that is long enough';
    for (let i = 0; i < 48; i++) {
      const email = `bench-${i}-${Date.now()}@example.com`;
      const r = await api.json('POST', '/api/v1/auth/register', { email, password });
      if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
      users.push({ email, password, access: r.body.accessToken, refresh: r.body.refreshToken, id: r.body.user.id });
    }
    const bearer = { authorization: `Bearer ${users[0]!.access}` };


    // ---- argon2 ceiling (same parameters as the auth service) and login/s ----
    // the auth service's parameters (algorithm 2 = Argon2id; the package's enum is a const enum)
    const params = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as unknown as Options;
    const stored = await hash(password, params);
    const ceiling = await loop(8, SECONDS, async () => verify(stored, password));
    const login = await withPeakRss(pid, () =>
      load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: users[1]!.email, password }), connections: 8, seconds: SECONDS }),
    );
    report.login = { argon2CeilingPerSec: ceiling.rps, ...login.result, ratio: login.result.rps / ceiling.rps, peakRssMiB: login.peakMiB };
    console.log(`argon2 ceiling ${fmt(ceiling.rps)}/s; login ${fmt(login.result.rps)}/s (${fmt((100 * login.result.rps) / ceiling.rps)}%), p50 ${login.result.p50} ms p99 ${login.result.p99} ms, non-2xx ${login.result.non2xx}`);

    // ---- enumeration by timing: unknown account vs wrong password, interleaved, under load ----
    report.loginTiming = await benchLoginTiming(api, users, { seconds: SECONDS, concurrency: TIMING_CONCURRENCY });

    // ---- authenticated GET /auth/me and /users/me: the gateway vs a bare proxy ----
    const proxied = await bare.measure({ base, pid, bearer, seconds: SECONDS });
    report.authMe = proxied.authMe;
    report.usersMe = proxied.usersMe;

    // ---- refresh rotations/s: each worker follows its own token chain ----
    const chains = users.slice(2, 34).map((u) => u.refresh);
    // after the logins' writes, as autovacuum would have it (lib.ts, vacuumAnalyze)
    report.autovacuum = await vacuumAnalyze(process.env.DATABASE_URL);
    const refresh = await loop(chains.length, SECONDS, async (w) => {
      const r = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: chains[w] });
      if (r.status !== 200) return false;
      chains[w] = r.body.refreshToken;
      return true;
    });
    report.refresh = refresh;
    console.log(`refresh rotations ${fmt(refresh.rps)}/s p50 ${fmt(refresh.p50, 1)} ms p99 ${fmt(refresh.p99, 1)} ms, failed ${refresh.non2xx}`);

    // ---- check-ins/s ----
    report.checkIns = await benchCheckIns(api, password, ADMIN);

    // ---- event-to-visible latency in the audit trail ----
    report.auditLatency = await benchAuditLatency(api, password);

    report.rss = { idleMiB: idleRss, peakUnderLoadMiB: Math.max(login.peakMiB, proxied.authMe.peakRssMiB) };
  } finally {
    await api.close();
    await bare.stop();
    await sys.child.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
  }

  // ---- in-process: the cost of row-level security, audit ingestion throughput ----
  report.rls = await measureRls(process.env.DATABASE_URL);
  report.ingestion = await measureIngestion(process.env.DATABASE_URL);

  // ---- the cost of tracing: off vs exporting to a local receiver ----
  const tracingDir = await mkdtemp(path.join(tmpdir(), 'gh-bench-trace-'));
  try {
    report.tracing = await measureTracingCost({ ...env, DATA_DIR: tracingDir }, SECONDS, real);
  } finally {
    await rm(tracingDir, { recursive: true, force: true });
    if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
  }

  await writeResults(report);
}

/** `npm run bench -- enumeration`: one start, 48 accounts, the login-timing runs, their own result files. */
async function benchEnumerationOnly(
  startSystem: () => Promise<{ child: { stop(): Promise<void> } }>,
  base: string,
  report: Record<string, unknown>,
  dataDir: string,
  runId: string,
) {
  const sys = await startSystem();
  const api = http(base);
  try {
    const users: Array<{ email: string }> = [];
    for (let i = 0; i < 48; i++) {
      const email = `bench-t-${i}-${Date.now()}@example.com`;
      const r = await api.json('POST', '/api/v1/auth/register', { email, password: 'bench password that is long enough' });
      if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
      users.push({ email });
    }
    const loadBefore = os.loadavg()[0]!;
    report.loginTiming = await benchLoginTiming(api, users, { seconds: SECONDS, concurrency: TIMING_CONCURRENCY });
    // other work on the machine shows in every figure: the 1-minute load average, before and after
    report.loadAverage = { before: loadBefore, after: os.loadavg()[0]! };
  } finally {
    await api.close();
    await sys.child.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCH_${runId}`);
  }
  const dir = path.join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const day = String(report.date).slice(0, 10);
  const name = `${day}-${report.mode}-enumeration`;
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the report is free-form JSON
  const m = report.machine as any;
  const md = `# Login timing: unknown account vs wrong password, ${day} (${report.mode})

Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}; load generator on the same cores, over loopback.
\`npm run bench -- enumeration\`: the whole system as \`npm start\` runs it; each row ${report.seconds} s of logins from
that many concurrent clients, every client alternating an unknown address and a real account with a wrong
password (48 of each, in rotation). Settings: ${Object.entries(report.settings as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ')}.
Goal (issue 9): median unknown / median wrong password within 0.8–1.25 at every load.
Machine load (1-minute average) before / after the runs: ${(report.loadAverage as { before: number; after: number }).before.toFixed(1)} / ${(report.loadAverage as { before: number; after: number }).after.toFixed(1)} on ${m.cpus} cores.

${timingMarkdown(report.loginTiming as Parameters<typeof timingMarkdown>[0])}
`;
  await writeFile(path.join(dir, `${name}.md`), md);
  console.log(`\nwrote bench/results/${name}.md and .json\n`);
  console.log(md);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
