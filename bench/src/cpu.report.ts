/**
 * The cpu bench's figures and their report (`BENCH_ONLY=cpu`, cpu.ts measures them): the
 * endpoints measured, the shapes of a round and of the medians, and the Markdown table.
 */
import type { LoadResult } from './lib';
import { fmt } from './lib';

export const ALL = ['login', 'refresh', 'me', 'register', 'checkIn'] as const;
export type Endpoint = (typeof ALL)[number];
/** BENCH_CPU_ONLY=login,me: a subset (e.g. to profile one endpoint alone) */
export const ENDPOINTS = ALL.filter((e) => !process.env.BENCH_CPU_ONLY || process.env.BENCH_CPU_ONLY.split(',').includes(e));

/** PostgreSQL statements by bucket (bench/src/pg-count-hook.mjs): outbox, inbox, audit, webhooks, request. */
export type PgCounts = Record<string, number>;
export interface CpuRun extends LoadResult {
  cpuMsPerReq: number;
  /** CPU ms of the PostgreSQL backends of the scratch database per request (PostgreSQL on this host only) */
  pgBackendCpuMsPerReq?: number;
  cpuCores: number;
  threadsMsPerReq: { main: number; pool: number; other: number };
  /** PostgreSQL statements per request over the run (fan-out and pollers of the same seconds included), by bucket */
  pgPerReq?: PgCounts;
}
export interface CpuRound {
  side: 'A' | 'B';
  root: string;
  ceiling: number;
  argon2CpuMs: number;
  idleCpuMsPerSec: number;
  /** statements per second with no requests (pollers), by bucket */
  idlePgPerSec?: PgCounts;
  /** logins one at a time, each followed by 300 ms for its fan-out: statements per login, by bucket (idle pollers not subtracted) */
  sequentialLoginPg?: PgCounts;
  /** the same logins: CPU ms per login by thread, the idle CPU of those seconds subtracted (no queueing behind other logins) */
  sequentialLoginCpu?: { main: number; pool: number; other: number };
  runs: Record<Endpoint, CpuRun>;
}
export interface CpuFigures {
  rounds: CpuRound[];
  median: Record<'A' | 'B', Partial<Record<Endpoint, { rps: number; cpuMsPerReq: number; jsMsPerReq?: number; pgBackendCpuMsPerReq?: number }>> & { ceiling?: number; loginRatio?: number; argon2CpuMs?: number }>;
  seconds: number;
}

export const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** `total 29.0 (request 8.0, audit 7.0, …)`, one decimal. */
export function pgText(c: PgCounts | undefined): string {
  if (!c) return '–';
  const parts = Object.entries(c).filter(([k]) => k !== 'total').sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${fmt(v, 1)}`);
  return `${fmt(c.total ?? NaN, 1)} (${parts.join(', ')})`;
}

const LABEL: Record<Endpoint, string> = {
  login: 'POST /auth/login (8 conns, one account)',
  refresh: 'POST /auth/refresh (32 chains)',
  me: 'GET /auth/me via gateway (32 conns)',
  register: 'POST /auth/register (8 workers)',
  checkIn: 'POST /events/:id/check-ins (16 scanners)',
};

export function cpuMarkdown(f: CpuFigures): string {
  const hasA = f.rounds.some((r) => r.side === 'A');
  const a = f.median.A;
  const b = f.median.B;
  const pct = (x: number, y: number) => `${x < y ? '−' : '+'}${fmt((100 * Math.abs(x - y)) / y)}%`;
  const lines = [
    '| endpoint | ' + (hasA ? 'A CPU ms/req | B CPU ms/req | CPU B vs A | A JS thread ms/req | B JS thread ms/req | JS B vs A | A req/s | B req/s |' : 'CPU ms/req | JS thread ms/req | req/s |'),
    hasA ? '|---|---:|---:|---:|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|',
    ...ENDPOINTS.map((e) =>
      hasA
        ? `| ${LABEL[e]} | ${fmt(a[e]!.cpuMsPerReq, 2)} | ${fmt(b[e]!.cpuMsPerReq, 2)} | ${pct(b[e]!.cpuMsPerReq, a[e]!.cpuMsPerReq)} | ${fmt(a[e]!.jsMsPerReq ?? NaN, 2)} | ${fmt(b[e]!.jsMsPerReq ?? NaN, 2)} | ${pct(b[e]!.jsMsPerReq ?? NaN, a[e]!.jsMsPerReq ?? NaN)} | ${fmt(a[e]!.rps)} | ${fmt(b[e]!.rps)} |`
        : `| ${LABEL[e]} | ${fmt(b[e]!.cpuMsPerReq, 2)} | ${fmt(b[e]!.jsMsPerReq ?? NaN, 2)} | ${fmt(b[e]!.rps)} |`,
    ),
    '',
    ...(f.rounds.some((r) => ENDPOINTS.some((e) => r.runs[e].pgBackendCpuMsPerReq !== undefined))
      ? [
          'PostgreSQL backends (the processes serving the scratch database, /proc/<pid>/stat user + system over the run, per request; the fan-out and pollers of those seconds included):',
          '',
          '| endpoint | ' + (hasA ? 'A backend CPU ms/req | B backend CPU ms/req | B vs A | A server + backends | B server + backends |' : 'backend CPU ms/req | server + backends |'),
          hasA ? '|---|---:|---:|---:|---:|---:|' : '|---|---:|---:|',
          ...ENDPOINTS.map((e) =>
            hasA
              ? `| ${LABEL[e]} | ${fmt(a[e]!.pgBackendCpuMsPerReq ?? NaN, 2)} | ${fmt(b[e]!.pgBackendCpuMsPerReq ?? NaN, 2)} | ${pct(b[e]!.pgBackendCpuMsPerReq ?? NaN, a[e]!.pgBackendCpuMsPerReq ?? NaN)} | ${fmt(a[e]!.cpuMsPerReq + (a[e]!.pgBackendCpuMsPerReq ?? NaN), 2)} | ${fmt(b[e]!.cpuMsPerReq + (b[e]!.pgBackendCpuMsPerReq ?? NaN), 2)} |`
              : `| ${LABEL[e]} | ${fmt(b[e]!.pgBackendCpuMsPerReq ?? NaN, 2)} | ${fmt(b[e]!.cpuMsPerReq + (b[e]!.pgBackendCpuMsPerReq ?? NaN), 2)} |`,
          ),
          '',
          'Per round, backend CPU ms per request: ' + f.rounds.map((r, i) => `${i + 1} ${r.side}: ` + ENDPOINTS.map((e) => `${e} ${fmt(r.runs[e].pgBackendCpuMsPerReq ?? NaN, 2)}`).join(', ')).join('; ') + '.',
          '',
        ]
      : []),
    !ENDPOINTS.includes('login') ? '' : `Login vs the argon2id verify ceiling (m=19456, t=2, p=1, 8 concurrent verifies in the bench process, same round): ` +
      (hasA ? `A ${fmt(a.loginRatio! * 100)}% (ceiling ${fmt(a.ceiling!)}/s), ` : '') +
      `B ${fmt(b.loginRatio! * 100)}% (ceiling ${fmt(b.ceiling!)}/s). Goal ≥ 90%. ` +
      `One verification costs ${fmt(b.argon2CpuMs!, 2)} ms of CPU (median of B's rounds; the bench process' user+system over the ceiling run / verifications): ` +
      (hasA ? `a login's other work is A ${fmt(a.login!.cpuMsPerReq - a.argon2CpuMs!, 2)} ms, ` : '') +
      `B ${fmt(b.login!.cpuMsPerReq - b.argon2CpuMs!, 2)} ms of CPU per login = ${fmt((100 * (b.login!.cpuMsPerReq - b.argon2CpuMs!)) / b.argon2CpuMs!)}% of the verification (goal < 5%).`,
    '',
    'Per round (CPU ms per request / req/s / failed; below it, CPU ms per request by thread: JS thread / pools (libuv and worker threads: argon2, crypto jobs) / other (GC, compiler)):',
    '',
    '| round | side | idle CPU ms/s | ceiling/s | argon2 CPU ms | ' + ENDPOINTS.join(' | ') + ' |',
    '|---|---|---:|---:|---:|' + ENDPOINTS.map(() => '---:').join('|') + '|',
    ...f.rounds.map((r, i) => `| ${i + 1} | ${r.side} | ${fmt(r.idleCpuMsPerSec, 1)} | ${fmt(r.ceiling)} | ${fmt(r.argon2CpuMs, 2)} | ` + ENDPOINTS.map((e) => `${fmt(r.runs[e].cpuMsPerReq, 2)} / ${fmt(r.runs[e].rps)} / ${r.runs[e].non2xx}<br>${r.runs[e].threadsMsPerReq ? `${fmt(r.runs[e].threadsMsPerReq.main, 2)} / ${fmt(r.runs[e].threadsMsPerReq.pool, 2)} / ${fmt(r.runs[e].threadsMsPerReq.other, 2)}` : ''}`).join(' | ') + ' |'),
    '',
    ...(f.rounds.some((r) => r.sequentialLoginCpu)
      ? [
          'Logins one at a time (20, each followed by 300 ms for its fan-out; no queueing behind other logins): CPU ms per login by thread, the idle CPU of those seconds subtracted (JS thread / pools / other), and JS + other (all but argon2 and signing, which run on the pools):',
          '',
          '| round | side | JS / pools / other | JS + other |',
          '|---|---|---|---:|',
          ...f.rounds.map((r, i) => (r.sequentialLoginCpu ? `| ${i + 1} | ${r.side} | ${fmt(r.sequentialLoginCpu.main, 2)} / ${fmt(r.sequentialLoginCpu.pool, 2)} / ${fmt(r.sequentialLoginCpu.other, 2)} | ${fmt(r.sequentialLoginCpu.main + r.sequentialLoginCpu.other, 2)} |` : `| ${i + 1} | ${r.side} | – | – |`)),
          ...(['A', 'B'] as const).filter((sd) => f.rounds.some((r) => r.side === sd && r.sequentialLoginCpu)).map((sd) => `\nMedian ${sd}: JS ${fmt(median(f.rounds.filter((r) => r.side === sd && r.sequentialLoginCpu).map((r) => r.sequentialLoginCpu!.main)), 2)} ms, JS + other ${fmt(median(f.rounds.filter((r) => r.side === sd && r.sequentialLoginCpu).map((r) => r.sequentialLoginCpu!.main + r.sequentialLoginCpu!.other)), 2)} ms per login.`),
          '',
        ]
      : []),
    'PostgreSQL statements (every round trip of the server process, counted by bench/src/pg-count-hook.mjs and bucketed by what they touch; ' +
      'a transaction\'s BEGIN and COMMIT count with its statements): per request over each run (the fan-out and pollers of those seconds included), ' +
      'per login with logins one at a time (each followed by 300 ms for its fan-out; pollers not subtracted), and per second idle:',
    '',
    '| round | side | ' + ENDPOINTS.map((e) => `${e} /req`).join(' | ') + ' | login one at a time | idle /s |',
    '|---|---|' + ENDPOINTS.map(() => '---|').join('') + '---|---|',
    ...f.rounds.map((r, i) => `| ${i + 1} | ${r.side} | ` + ENDPOINTS.map((e) => pgText(r.runs[e].pgPerReq)).join(' | ') + ` | ${pgText(r.sequentialLoginPg)} | ${pgText(r.idlePgPerSec)} |`),
    '',
  ];
  return lines.join('\n');
}
