/**
 * The cost of tracing as instructions per request: a figure that other load on a shared machine
 * does not move (req/s and even CPU ms do). The all-in-one system (`gatehouse start`, PGlite in
 * a scratch data dir) runs under `valgrind --tool=callgrind` with counting off; after start-up,
 * one registration and a warm-up (the JIT settles), counting is switched on for exactly N
 * authenticated `GET /api/v1/auth/me`, then off, and the count (every thread of the process:
 * the exporter's serialisation and the GC included) is divided by N.
 *
 * Variants (TRACE_VARIANTS, comma-separated; default none,off,on):
 * - none: no tracing code (bench/src/no-tracing-hook.mjs), as in bench/src/tracing.ts;
 * - off: the shipped code, no OTLP endpoint;
 * - on: exporting every span to a local OTLP receiver (http/protobuf, the default);
 * - on-json: the same with OTEL_EXPORTER_OTLP_PROTOCOL=http/json.
 *
 *   npx tsx bench/src/tracing-instructions.ts        # TRACE_N=1000 TRACE_WARMUP=600
 *
 * Status (2026-12-07): not yet working on the project's machine: the server reported 0 counted
 * instructions (callgrind_control's --instr=on did not reach it, though it does a small node
 * process), so no result has been written; see docs/operations.md.
 *
 * Writes bench/results/<day>-tracing-instructions.md. Needs valgrind (callgrind_control); `perf
 * stat -e instructions` would be faster but the machine's virtual CPU has no such counter.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { startOtlpReceiver } from '../../test/src/e2e/otlp-receiver';
import { fmt, freePort, root } from './lib';

const N = Number(process.env.TRACE_N ?? 1000);
const WARMUP = Number(process.env.TRACE_WARMUP ?? 600);
const CONCURRENCY = Number(process.env.TRACE_CONCURRENCY ?? 1); // under valgrind, more in flight made the gateway time out on its services
const VARIANTS = (process.env.TRACE_VARIANTS ?? 'none,off,on').split(',').map((s) => s.trim());

/** Runs `count` GETs with CONCURRENCY in flight over keep-alive connections; throws on any non-200. */
async function gets(url: string, headers: Record<string, string>, count: number, dispatcher: Agent) {
  let left = count;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) {
        const r = await fetch(url, { headers, dispatcher });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
      }
    }),
  );
}

/** callgrind_control on the process: the command is picked up while it runs, so wait for it. */
function control(pid: number, arg: string) {
  execFileSync('callgrind_control', [arg, String(pid)], { stdio: 'ignore', timeout: 120_000 });
}

async function measure(variant: string, receiverUrl: string): Promise<{ perRequest: number; total: number }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-tracing2-instr-'));
  const out = path.join(dataDir, 'callgrind.out');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tracing = variant.startsWith('on') ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, ...(variant === 'on-json' ? { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } : {}) } : {};
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    PORT: String(port),
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SHUTDOWN_DRAIN_SEC: '0',
    RATE_LIMIT_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    MAX_IN_FLIGHT_PER_IP: '0',
    ...tracing,
  };
  const nodeArgs = variant === 'none' ? ['--import', './bench/src/no-tracing-hook.mjs'] : [];
  const proc = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs, '--import', 'tsx', 'cli/src/main.ts', 'start'], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 600_000 });
  try {
    for (;;) {
      const r = await fetch(`${base}/readyz`).catch(() => undefined);
      if (r?.ok) break;
      if (proc.exitCode !== null) throw new Error(`gatehouse start exited:\n${stderr}`);
      await sleep(500);
    }
    console.log(`${variant}: ready`);
    const reg = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `instr-${variant}@example.com`, password: 'bench password that is long enough' }),
    });
    const body = (await reg.json()) as { accessToken?: string };
    if (reg.status !== 201 || !body.accessToken) throw new Error(`register: ${reg.status} ${JSON.stringify(body)}`);
    const headers = { authorization: `Bearer ${body.accessToken}` };
    const url = `${base}/api/v1/auth/me`;
    await gets(url, headers, WARMUP, dispatcher);
    await sleep(6000); // the batch exporter's 5 s timer: what warm-up queued goes out before counting
    control(proc.pid!, '--instr=on');
    await gets(url, headers, N, dispatcher);
    await sleep(6000); // and what the counted requests queued is exported inside the count
    control(proc.pid!, '--instr=off');
    // callgrind writes its count when the process exits (graceful stop on SIGTERM)
    await dispatcher.close();
    proc.kill('SIGTERM');
    await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(180_000).then(() => proc.kill('SIGKILL'))]);
    let total = 0;
    for (const f of readdirSync(dataDir).filter((name) => name.startsWith('callgrind.out'))) {
      const m = /^totals:\s+(\d+)/m.exec(await readFile(path.join(dataDir, f), 'utf8'));
      if (m) total += Number(m[1]);
    }
    if (!total) throw new Error(`${variant}: no count from callgrind\n${stderr}`);
    return { total, perRequest: total / N };
  } finally {
    if (!dispatcher.closed) await dispatcher.close();
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(30_000).then(() => proc.kill('SIGKILL'))]);
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const receiver = await startOtlpReceiver({ sink: true });
  const loadBefore = os.loadavg();
  const results: Record<string, { perRequest: number; total: number }> = {};
  try {
    // side by side: the counts do not depend on timing, and under valgrind each takes minutes
    await Promise.all(
      VARIANTS.map(async (v) => {
        results[v] = await measure(v, receiver.url);
        console.log(`${v}: ${fmt(results[v].perRequest)} instructions per GET /auth/me`);
      }),
    );
  } finally {
    await receiver.close();
  }
  const rel = (a: string, b: string) => (results[a] && results[b] ? `${fmt((100 * (results[a].perRequest - results[b].perRequest)) / results[b].perRequest, 1)}%` : 'n/a');
  const la = (l: number[]) => l.map((x) => fmt(x, 1)).join(' / ');
  const day = new Date().toISOString().slice(0, 10);
  const label = process.env.TRACE_LABEL ? `-${process.env.TRACE_LABEL}` : '';
  const md = `# Tracing cost in instructions ${day}${label}

\`npx tsx bench/src/tracing-instructions.ts\` (bench/src/tracing-instructions.ts): the all-in-one system on PGlite under valgrind's callgrind, counting only during ${N} authenticated \`GET /api/v1/auth/me\` (${CONCURRENCY} in flight, keep-alive; the variants' processes side by side) after ${WARMUP} of warm-up, plus 6 s after them so the batch exporter's work is inside the count. Every thread of the server process; the load generator and the OTLP receiver are other processes. Node ${process.version}; load average before ${la(loadBefore)}, after ${la(os.loadavg())} (does not affect the counts).

| variant | instructions per GET | vs off |
|---|---|---|
${VARIANTS.map((v) => `| ${v} | ${fmt(results[v]?.perRequest ?? NaN)} | ${v === 'off' ? '' : rel(v, 'off')} |`).join('\n')}

${results.none && results.off ? `Off vs no tracing code: ${rel('off', 'none')} (goal under 1%). ` : ''}${results.on && results.off ? `On vs off: ${rel('on', 'off')} (goal under 10%).` : ''}
`;
  const file = path.join(root, 'bench/results', `${day}-tracing-instructions${label}.md`);
  await writeFile(file, md);
  console.log(md);
}

await main();
