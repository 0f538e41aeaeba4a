/**
 * `BENCH_ONLY=heap npm run bench` (issue 13, memory goals): what V8's young generation costs in
 * resident memory and what a smaller one costs in CPU. Node 24 lets the young generation's
 * semi-spaces grow to 32 MB each (on a 64-bit machine with this much memory), and module loading
 * at start grows them to the full size, which V8 does not hand back while the process idles:
 * ~100 MB of the all-in-one process's RSS. The bench starts the bundled
 * `node cli/dist/main.js start` (run `npm run build` first) with each `--max-semi-space-size`
 * in turn (`BENCH_HEAP_VARIANTS`, MB; `default` = no flag), `BENCH_ROUNDS` (3) rounds
 * interleaved, and measures RSS 5 s after ready, then authenticated `GET /api/v1/auth/me`
 * (32 connections) and `POST /api/v1/auth/login` (8): req/s, the server process' CPU per
 * request (user + system, every thread), peak RSS sampled every 250 ms. Medians per variant.
 * With BENCH_BASE_ROOT (a built checkout of another commit) each variant runs there too, just
 * before this checkout's in each round (`base:<variant>`), for an A/B in one run.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMs } from './cpu';
import { fmt, freePort, http, load, root, rssMiB, spawnNode, withPeakRss, type LoadResult } from './lib';

const PASSWORD = 'bench password that is long enough';

interface HeapRun {
  variant: string;
  round: number;
  idleRssMiB: number;
  me: LoadResult & { cpuMsPerReq: number; peakRssMiB: number };
  login: LoadResult & { cpuMsPerReq: number; peakRssMiB: number };
  load1: number;
}

export interface HeapFigures {
  variants: string[];
  runs: HeapRun[];
  median: Record<string, { idleRssMiB: number; meRps: number; meCpu: number; mePeakMiB: number; loginRps: number; loginCpu: number; loginPeakMiB: number }>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** `run` under load with the process' CPU per request and its peak RSS. */
async function measured(pid: number, run: () => Promise<LoadResult>): Promise<LoadResult & { cpuMsPerReq: number; peakRssMiB: number }> {
  const before = cpuMs(pid);
  const { result, peakMiB } = await withPeakRss(pid, run);
  return { ...result, cpuMsPerReq: (cpuMs(pid) - before) / Math.max(1, result.requests), peakRssMiB: peakMiB };
}

export async function measureHeap(env: Record<string, string | undefined>, seconds: number): Promise<HeapFigures> {
  if (!existsSync(path.join(root, 'cli/dist/main.js'))) throw new Error('BENCH_ONLY=heap runs the production bundle: npm run build first');
  const baseRoot = process.env.BENCH_BASE_ROOT;
  if (baseRoot && !existsSync(path.join(baseRoot, 'cli/dist/main.js'))) throw new Error(`BENCH_BASE_ROOT=${baseRoot}: npm run build there first`);
  const flagsOf = (process.env.BENCH_HEAP_VARIANTS ?? 'default,16,8').split(',').map((v) => v.trim());
  const variants = flagsOf.flatMap((v) => (baseRoot ? [`base:${v}`, v] : [v]));
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const runs: HeapRun[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const size = variant.replace(/^base:/, '');
      const flags = size === 'default' ? [] : [`--max-semi-space-size=${size}`];
      const cwd = variant.startsWith('base:') ? baseRoot! : root;
      const child = spawnNode('cli/dist/main.js', ['start'], { ...env, PORT: String(port), METRICS_PORT: '0', LOG_LEVEL: 'warn' }, flags, cwd);
      const api = http(base);
      try {
        await child.ready(base);
        const pid = child.proc.pid!;
        await sleep(5000);
        const idleRssMiB = rssMiB(pid);
        const email = `bench-heap-${variant.replace(":", "-")}-${round}-${Date.now()}@example.com`;
        const reg = await api.json('POST', '/api/v1/auth/register', { email, password: PASSWORD });
        if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
        const bearer = { authorization: `Bearer ${reg.body.accessToken}` };
        await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 2 }); // warm-up
        const load1 = os.loadavg()[0]!;
        const me = await measured(pid, () => load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds }));
        const login = await measured(pid, () =>
          load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }), connections: 8, seconds }),
        );
        runs.push({ variant, round, idleRssMiB, me, login, load1 });
        console.log(
          `heap ${variant} (round ${round}): idle ${fmt(idleRssMiB)} MiB; me ${fmt(me.rps)}/s ${fmt(me.cpuMsPerReq, 3)} CPU ms/req peak ${fmt(me.peakRssMiB)} MiB; login ${fmt(login.rps)}/s ${fmt(login.cpuMsPerReq, 2)} CPU ms/req peak ${fmt(login.peakRssMiB)} MiB; load ${fmt(load1, 1)}`,
        );
      } finally {
        await api.close();
        await child.stop();
      }
    }
  }
  const med: HeapFigures['median'] = {};
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v);
    med[v] = {
      idleRssMiB: median(rs.map((r) => r.idleRssMiB)),
      meRps: median(rs.map((r) => r.me.rps)),
      meCpu: median(rs.map((r) => r.me.cpuMsPerReq)),
      mePeakMiB: median(rs.map((r) => r.me.peakRssMiB)),
      loginRps: median(rs.map((r) => r.login.rps)),
      loginCpu: median(rs.map((r) => r.login.cpuMsPerReq)),
      loginPeakMiB: median(rs.map((r) => r.login.peakRssMiB)),
    };
  }
  return { variants, runs, median: med };
}

export function heapMarkdown(h: HeapFigures): string {
  const flag = (v: string) => (v === 'default' ? 'default (no flag)' : `--max-semi-space-size=${v}`);
  const name = (v: string) => (v.startsWith('base:') ? `${flag(v.slice(5))}, base` : flag(v));
  const d = h.median[h.variants[0]!]!;
  const rel = (x: number, y: number) => `${x >= y ? '+' : '−'}${fmt((Math.abs(x - y) / y) * 100, 1)}%`;
  const lines = [
    '| variant | idle RSS MiB | GET /auth/me /s | CPU ms/req | peak RSS MiB | login /s | CPU ms/login | peak RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...h.variants.map((v) => {
      const m = h.median[v]!;
      const vs = v === h.variants[0] ? '' : ` (${rel(m.meCpu, d.meCpu)})`;
      const vsl = v === h.variants[0] ? '' : ` (${rel(m.loginCpu, d.loginCpu)})`;
      return `| ${name(v)} | ${fmt(m.idleRssMiB)} | ${fmt(m.meRps)} | ${fmt(m.meCpu, 3)}${vs} | ${fmt(m.mePeakMiB)} | ${fmt(m.loginRps)} | ${fmt(m.loginCpu, 2)}${vsl} | ${fmt(m.loginPeakMiB)} |`;
    }),
    '',
    'Each run, in order (1-minute load average at its start):',
    '',
    ...h.runs.map(
      (r) =>
        `- round ${r.round}, ${name(r.variant)}: idle ${fmt(r.idleRssMiB)} MiB; me ${fmt(r.me.rps)}/s, ${fmt(r.me.cpuMsPerReq, 3)} ms, peak ${fmt(r.me.peakRssMiB)} MiB; login ${fmt(r.login.rps)}/s, ${fmt(r.login.cpuMsPerReq, 2)} ms, peak ${fmt(r.login.peakRssMiB)} MiB (load ${fmt(r.load1, 1)})`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
