/**
 * The cost of tracing, in one run: the all-in-one system started on the same backends in four
 * variants, in alternating rounds (none, off, on, none, off, on, ...) so drift on a shared
 * machine falls on each:
 * - none: no tracing code at all (a bundle of its own, cli/dist-no-tracing, built with
 *   bench/src/no-tracing.ts in place of packages/platform/src/tracing.ts): the system before
 *   issue 15;
 * - off: the shipped code, no OTEL_EXPORTER_OTLP_ENDPOINT (the SDK is not loaded);
 * - on: exporting every span over OTLP/HTTP (protobuf) to a local receiver;
 * - ratio: the same, keeping one trace in ten (OTEL_TRACES_SAMPLER=parentbased_traceidratio,
 *   OTEL_TRACES_SAMPLER_ARG=0.1): what a busy deployment runs; the dropped nine cost about
 *   what tracing off does (tracing.ts, tracedRequestListener).
 * login/s and authenticated `GET /api/v1/auth/me`/s in each; the figures are medians over the
 * rounds. Goals: on within 10% of off, off within 1% of none.
 * Each mode runs the production bundle with the production node options (the container image's,
 * or `npm start`'s embedded), as the rest of the bench does; until 2026-12-08 this section ran
 * the TypeScript sources through tsx.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Plugin } from 'esbuild';
import { startOtlpReceiver } from '../../test/src/e2e/otlp-receiver';
import { cpuMs } from './cpu';
import { bundleScripts, ensureCliBundle, fmt, freePort, http, load, productionCommand, root, spawnNode, type LoadResult } from './lib';

const MODES = ['none', 'off', 'on', 'ratio'] as const;
/** The ratio mode's share of traces kept. */
const RATIO = '0.1';

/** A load run and the CPU the server process spent on it, per request. */
async function measured(pid: number, run: () => Promise<LoadResult>): Promise<LoadResult & { cpuMsPerRequest: number }> {
  const before = cpuMs(pid);
  const r = await run();
  return { ...r, cpuMsPerRequest: (cpuMs(pid) - before) / Math.max(1, r.requests) };
}
type Mode = (typeof MODES)[number];

export interface TracingCost {
  rounds: number;
  none: { login: LoadResult; authMe: LoadResult };
  off: { login: LoadResult; authMe: LoadResult };
  on: { login: LoadResult; authMe: LoadResult };
  ratio: { login: LoadResult; authMe: LoadResult };
  /** share of traces the ratio mode keeps */
  ratioArg: string;
  /** the 1-minute load average at the start of each run, in order (none, off, on per round) */
  loadPerRun: number[];
  /** every round's req/s, per mode: login and GET /auth/me */
  perRound: Record<Mode, { login: number[]; authMe: number[] }>;
  /** median CPU ms of the server process per request (every thread): robust to other load on the machine */
  cpu: Record<Mode, { login: number; authMe: number }>;
  cpuPerRound: Record<Mode, { login: number[]; authMe: number[] }>;
  exports: number;
  exportedBytes: number;
  loginCostPct: number;
  authMeCostPct: number;
  loginRatioCostPct: number;
  authMeRatioCostPct: number;
  loginOffCostPct: number;
  authMeOffCostPct: number;
  protocol: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The median of each figure over the rounds (req/s, p50, p99 each on its own). */
const medianOf = (xs: LoadResult[]): LoadResult => {
  const sum = (k: keyof LoadResult) => xs.reduce((a, x) => a + x[k], 0);
  return { rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)), requests: sum('requests'), non2xx: sum('non2xx'), errors: sum('errors'), connections: xs[0]!.connections, seconds: sum('seconds') };
};

/** Where the bundle without tracing code goes: beside cli/dist, so that it finds the same files from its own location. */
const NO_TRACING_DIR = 'dist-no-tracing';

/**
 * Builds cli/dist-no-tracing: the CLI's bundle with bench/src/no-tracing.ts compiled in place of
 * packages/platform/src/tracing.ts, otherwise as `npm run build` makes cli/dist. Rebuilt every
 * run (a few seconds): it is the bench's, and must follow the code it is compared with.
 */
export async function buildNoTracingBundle(): Promise<string> {
  const bundle = await bundleScripts();
  const stand = path.join(root, 'bench', 'src', 'no-tracing.ts');
  const noTracing: Plugin = {
    name: 'no-tracing',
    setup(build) {
      build.onLoad({ filter: /[\\/]packages[\\/]platform[\\/]src[\\/]tracing\.ts$/ }, async () => ({
        contents: await readFile(stand, 'utf8'),
        loader: 'ts',
        resolveDir: path.dirname(stand),
      }));
    },
  };
  const cli = bundle.targets.find((t) => t.label === 'cli');
  if (!cli || !(await bundle.bundleTarget(cli, (line) => console.log(line), { dir: NO_TRACING_DIR, plugins: [noTracing] }))) throw new Error('building cli/dist-no-tracing failed');
  (await import('esbuild')).stop();
  return `cli/${NO_TRACING_DIR}/main.js`;
}

/**
 * Runs `rounds` × (none, off, on, ratio); `env` is the bench's environment for `gatehouse start`
 * (data dir, backends, limits), `real` whether it is on the servers (the container image's node
 * options) or embedded (`npm start`'s).
 */
export async function measureTracingCost(env: Record<string, string | undefined>, seconds: number, real: boolean, rounds = Number(process.env.BENCH_ROUNDS ?? 3)): Promise<TracingCost> {
  await ensureCliBundle();
  const noTracingScript = await buildNoTracingBundle();
  // the production command's node options, the bundle run directly (`npm start`'s scripts/start.mjs only builds a stale bundle first)
  const { nodeArgs } = productionCommand(real);
  const receiver = await startOtlpReceiver({ sink: true });
  const runs: Record<Mode, { login: LoadResult[]; authMe: LoadResult[] }> = { none: { login: [], authMe: [] }, off: { login: [], authMe: [] }, on: { login: [], authMe: [] }, ratio: { login: [], authMe: [] } };
  const cpu: Record<Mode, { login: number[]; authMe: number[] }> = { none: { login: [], authMe: [] }, off: { login: [], authMe: [] }, on: { login: [], authMe: [] }, ratio: { login: [], authMe: [] } };
  const password = 'bench password that is long enough';
  const loadPerRun: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        // the default protocol (http/protobuf); the receiver only counts what arrives
        const tracing =
          mode === 'on'
            ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
            : mode === 'ratio'
              ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: RATIO }
              : {};
        const script = mode === 'none' ? noTracingScript : 'cli/dist/main.js';
        const child = spawnNode(script, ['start'], { ...env, PORT: String(port), METRICS_PORT: '0', LOG_LEVEL: 'warn', ...tracing }, nodeArgs);
        const api = http(base);
        try {
          await child.ready(base);
          const email = `bench-trace-${mode}-${round}-${Date.now()}@example.com`;
          const reg = await api.json('POST', '/api/v1/auth/register', { email, password });
          if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
          const bearer = { authorization: `Bearer ${reg.body.accessToken}` };
          await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 2 }); // warm-up
          const pid = child.proc.pid!;
          loadPerRun.push(os.loadavg()[0]!);
          const login = await measured(pid, () => load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }), connections: 8, seconds }));
          const authMe = await measured(pid, () => load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds }));
          runs[mode].login.push(login);
          runs[mode].authMe.push(authMe);
          cpu[mode].login.push(login.cpuMsPerRequest);
          cpu[mode].authMe.push(authMe.cpuMsPerRequest);
          console.log(
            `tracing ${mode} (round ${round + 1}): login ${fmt(login.rps)}/s p99 ${login.p99} ms ${fmt(login.cpuMsPerRequest, 2)} CPU ms/req; GET /auth/me ${fmt(authMe.rps)}/s p99 ${authMe.p99} ms ${fmt(authMe.cpuMsPerRequest, 2)} CPU ms/req`,
          );
        } finally {
          await api.close();
          await child.stop();
        }
      }
    }
  } finally {
    await receiver.close();
  }
  const pick = (m: Mode) => ({ login: medianOf(runs[m].login), authMe: medianOf(runs[m].authMe) });
  const [none, off, on, ratio] = [pick('none'), pick('off'), pick('on'), pick('ratio')];
  const cost = (a: LoadResult, b: LoadResult) => (100 * (a.rps - b.rps)) / a.rps;
  const perRound = Object.fromEntries(MODES.map((m) => [m, { login: runs[m].login.map((x) => x.rps), authMe: runs[m].authMe.map((x) => x.rps) }])) as TracingCost['perRound'];
  const cpuMedians = Object.fromEntries(MODES.map((m) => [m, { login: median(cpu[m].login), authMe: median(cpu[m].authMe) }])) as TracingCost['cpu'];
  return {
    rounds,
    loadPerRun,
    none,
    off,
    on,
    ratio,
    ratioArg: RATIO,
    perRound,
    cpu: cpuMedians,
    cpuPerRound: cpu,
    exports: receiver.exports,
    exportedBytes: receiver.bytes,
    loginCostPct: cost(off.login, on.login),
    authMeCostPct: cost(off.authMe, on.authMe),
    loginRatioCostPct: cost(off.login, ratio.login),
    authMeRatioCostPct: cost(off.authMe, ratio.authMe),
    loginOffCostPct: cost(none.login, off.login),
    authMeOffCostPct: cost(none.authMe, off.authMe),
    protocol: 'OTLP/HTTP protobuf (the default) to a local receiver that counts and discards (test/src/e2e/otlp-receiver.ts, sink mode)',
  };
}

/** The markdown section of the results. */
export function tracingMarkdown(t: TracingCost): string {
  const row = (label: string, x: LoadResult) => `| ${label} | ${fmt(x.rps)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${x.non2xx} |`;
  const rounds = (xs: number[]) => xs.map((x) => fmt(x)).join(', ');
  const met = (pct: number, goal: number) => (pct < goal ? 'yes' : 'no');
  const rounds2 = (xs: number[]) => xs.map((x) => fmt(x, 2)).join(', ');
  const pct = (base: number, x: number) => `${x >= base ? '+' : ''}${fmt((100 * (x - base)) / base, 1)}%`;
  return `## Cost of tracing

${t.rounds} rounds of (none, off, on, ratio) in turn, medians over the rounds; "none" is the code without any tracing (the production bundle built with bench/src/no-tracing.ts in place of the platform's tracing helpers, cli/dist-no-tracing), "off" the shipped code with no OTLP endpoint, "on" exporting: ${t.protocol}: ${t.exports.toLocaleString('en-US')} export requests, ${fmt(t.exportedBytes / 1048576, 1)} MiB (on and ratio together).
"on" keeps every trace (the default sampler, parentbased_always_on); "ratio" keeps one in ${fmt(1 / Number(t.ratioArg))} (\`OTEL_TRACES_SAMPLER=parentbased_traceidratio\`, \`OTEL_TRACES_SAMPLER_ARG=${t.ratioArg}\`), the others running as untraced.

| run | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
${row('POST /auth/login, no tracing code (8 conns)', t.none.login)}
${row('POST /auth/login, tracing off', t.off.login)}
${row('POST /auth/login, tracing on', t.on.login)}
${row('GET /auth/me, no tracing code (32 conns)', t.none.authMe)}
${row('GET /auth/me, tracing off', t.off.authMe)}
${row('GET /auth/me, tracing on', t.on.authMe)}
${row(`POST /auth/login, tracing on, ratio ${t.ratioArg}`, t.ratio.login)}
${row(`GET /auth/me, tracing on, ratio ${t.ratioArg}`, t.ratio.authMe)}

1-minute load average at the start of each run (none, off, on, ratio per round): ${t.loadPerRun.map((x) => fmt(x, 1)).join(', ')}.

req/s of each round, in order: login none ${rounds(t.perRound.none.login)}; off ${rounds(t.perRound.off.login)}; on ${rounds(t.perRound.on.login)}; ratio ${rounds(t.perRound.ratio.login)}. GET /auth/me none ${rounds(t.perRound.none.authMe)}; off ${rounds(t.perRound.off.authMe)}; on ${rounds(t.perRound.on.authMe)}; ratio ${rounds(t.perRound.ratio.authMe)}.

CPU of the server process per request (user + system, every thread; medians), which other load on the machine disturbs far less than req/s:

| | no tracing code | tracing off | tracing on | on, ratio ${t.ratioArg} | on vs off | ratio vs off | off vs none |
|---|---|---|---|---|---|---|---|
| POST /auth/login | ${fmt(t.cpu.none.login, 2)} ms | ${fmt(t.cpu.off.login, 2)} ms | ${fmt(t.cpu.on.login, 2)} ms | ${fmt(t.cpu.ratio.login, 2)} ms | ${pct(t.cpu.off.login, t.cpu.on.login)} | ${pct(t.cpu.off.login, t.cpu.ratio.login)} | ${pct(t.cpu.none.login, t.cpu.off.login)} |
| GET /auth/me | ${fmt(t.cpu.none.authMe, 2)} ms | ${fmt(t.cpu.off.authMe, 2)} ms | ${fmt(t.cpu.on.authMe, 2)} ms | ${fmt(t.cpu.ratio.authMe, 2)} ms | ${pct(t.cpu.off.authMe, t.cpu.on.authMe)} | ${pct(t.cpu.off.authMe, t.cpu.ratio.authMe)} | ${pct(t.cpu.none.authMe, t.cpu.off.authMe)} |

CPU ms per request of each round: GET /auth/me none ${rounds2(t.cpuPerRound.none.authMe)}; off ${rounds2(t.cpuPerRound.off.authMe)}; on ${rounds2(t.cpuPerRound.on.authMe)}; ratio ${rounds2(t.cpuPerRound.ratio.authMe)}. Login none ${rounds2(t.cpuPerRound.none.login)}; off ${rounds2(t.cpuPerRound.off.login)}; on ${rounds2(t.cpuPerRound.on.login)}; ratio ${rounds2(t.cpuPerRound.ratio.login)}.

| goal | measured (medians of req/s) | met |
|---|---|---|
| login/s with tracing on within 10% of off | ${fmt(t.loginCostPct, 1)}% slower | ${met(t.loginCostPct, 10)} |
| GET /auth/me/s with tracing on within 10% of off | ${fmt(t.authMeCostPct, 1)}% slower | ${met(t.authMeCostPct, 10)} |
| (beside the goal) login/s, ratio ${t.ratioArg}, within 10% of off | ${fmt(t.loginRatioCostPct, 1)}% slower | ${met(t.loginRatioCostPct, 10)} |
| (beside the goal) GET /auth/me/s, ratio ${t.ratioArg}, within 10% of off | ${fmt(t.authMeRatioCostPct, 1)}% slower | ${met(t.authMeRatioCostPct, 10)} |
| login/s with tracing off within 1% of no tracing code | ${fmt(t.loginOffCostPct, 1)}% slower | ${met(t.loginOffCostPct, 1)} |
| GET /auth/me/s with tracing off within 1% of no tracing code | ${fmt(t.authMeOffCostPct, 1)}% slower | ${met(t.authMeOffCostPct, 1)} |
`;
}
