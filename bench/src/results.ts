/**
 * Writing `npm run bench`'s reports under bench/results/: the full run's `<day>-<mode>.{md,json}`
 * and the single-figure modes' `<day>-<mode>-<kind>` files (a second run of a day as -runN).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { timingMarkdown } from './enumeration';
import { fmt, root, type LoadResult } from './lib';
import { tracingMarkdown } from './tracing';

/** Writes `<day>-<mode>-<kind>.{json,md}` (a second run of the day as -run2, -run3..., never over the first). */
export async function writeDated(r: Record<string, unknown>, kind: string, md: string) {
  const dir = path.join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const day = `${String(r.date).slice(0, 10)}-${String(r.mode)}-${kind}`;
  let name = day;
  for (let n = 2; existsSync(path.join(dir, `${name}.md`)); n++) name = `${day}-run${n}`;
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(r, null, 2) + '\n');
  await writeFile(path.join(dir, `${name}.md`), md);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the report is free-form JSON
export async function writeTracingResults(r: Record<string, any>) {
  const m = r.machine;
  const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
  const head = `# Tracing cost ${String(r.date).slice(0, 10)} (${r.mode})\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback; shared with other jobs (load average 1/5/15 min before ${la(r.load)}, after ${la(r.loadAfter)}). Each run ${r.seconds} s. \`BENCH_ONLY=tracing npm run bench\`.\n\n`;
  await writeDated(r, 'tracing', head + tracingMarkdown(r.tracing));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the report is free-form JSON
export async function writeResults(r: Record<string, any>) {
  const dir = path.join(root, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const day = String(r.date).slice(0, 10);
  // a second run of a day as -run2, -run3..., never over the first (its reading is written by hand)
  let name = `${day}-${r.mode}`;
  for (let n = 2; existsSync(path.join(dir, `${name}.md`)); n++) name = `${day}-${r.mode}-run${n}`;
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(r, null, 2) + '\n');
  const m = r.machine;
  const row = (label: string, x: LoadResult) => `| ${label} | ${fmt(x.rps)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${x.non2xx} |`;
  const pct = (x: number) => `${fmt(100 * x)}%`;
  const md = `# Benchmark ${day} (${r.mode})

Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}. Load generator (autocannon / undici)
runs on the same 2 cores as the system under test, over loopback. Each run ${r.seconds} s.
Backends: ${r.mode === 'servers' ? 'PostgreSQL, Redis, NATS JetStream (local servers)' : 'embedded (PGlite, memory, in-process events)'}.
Rate-limit settings: ${Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ')} (gateway limits off; credential throttling raised).

| run | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
${row('POST /auth/login (8 connections)', r.login)}
${row('GET /auth/me through the gateway (32 conns)', r.authMe.gateway)}
${row('GET /auth/me through a bare proxy (32 conns)', r.authMe.bareProxy)}
${row('GET /users/me through the gateway', r.usersMe.gateway)}
${row('GET /users/me through a bare proxy', r.usersMe.bareProxy)}
${r.authMe.gatewayProcess ? row('GET /auth/me through the gateway as a process of its own', r.authMe.gatewayProcess) : ''}
${r.usersMe.gatewayProcess ? row('GET /users/me through the gateway as a process of its own', r.usersMe.gatewayProcess) : ''}
${row('POST /auth/refresh rotations (32 chains)', r.refresh)}

| goal | measured | met |
|---|---|---|
| login/s ≥ 90% of the argon2id ceiling (m=19456, t=2, p=1) | ${fmt(r.login.rps)}/s of ${fmt(r.login.argon2CeilingPerSec)}/s = ${pct(r.login.ratio)} | ${r.login.ratio >= 0.9 ? 'yes' : 'no'} |
${
  r.authMe.gatewayProcess
    ? `| auth/me via the gateway process ≥ 90% of the bare proxy process (issue 13; like for like: each a process in front of the same service) | ${pct(r.authMe.processRatio)}; proxy CPU per request ${fmt(r.authMe.gatewayProcess.proxyCpuUs)} vs ${fmt(r.authMe.bareProxy.proxyCpuUs)} µs | ${r.authMe.processRatio >= 0.9 ? 'yes' : 'no'} |
| users/me via the gateway process ≥ 90% of the bare proxy process (issue 13) | ${pct(r.usersMe.processRatio)}; proxy CPU per request ${fmt(r.usersMe.gatewayProcess.proxyCpuUs)} vs ${fmt(r.usersMe.bareProxy.proxyCpuUs)} µs | ${r.usersMe.processRatio >= 0.9 ? 'yes' : 'no'} |
`
    : ''
}| auth/me via the all-in-one process's gateway ≥ 90% of bare proxy (the gateway shares the services' thread; the proxy has a core of its own) | ${pct(r.authMe.ratio)} | ${r.authMe.ratio >= 0.9 ? 'yes' : 'no'} |
| users/me via the all-in-one process's gateway ≥ 90% of bare proxy (as above) | ${pct(r.usersMe.ratio)} | ${r.usersMe.ratio >= 0.9 ? 'yes' : 'no'} |
| refresh rotations ≥ 2,000/s | ${fmt(r.refresh.rps)}/s${r.autovacuum !== undefined ? ` (database vacuumed and analyzed before; server autovacuum ${r.autovacuum})` : ''} | ${r.refresh.rps >= 2000 ? 'yes' : 'no'} |
| audit event-to-visible p99 ≤ 50 ms (${r.auditLatency.samples} registrations) | p50 ${fmt(r.auditLatency.p50, 1)} ms, p99 ${fmt(r.auditLatency.p99, 1)} ms | ${r.auditLatency.p99 <= 50 ? 'yes' : 'no'} |
| RLS cost < 5% (issue 13; the read as a named statement, production's path) | wall ${fmt(r.rls.overheadPct, 1)}% (${fmt(r.rls.withRlsPerSec)}/s with vs ${fmt(r.rls.withoutRlsPerSec)}/s without), CPU ${fmt(r.rls.cpuOverheadPct, 1)}%${r.rls.unnamed ? `; unnamed read: wall ${fmt(r.rls.unnamed.overheadPct, 1)}%, CPU ${fmt(r.rls.unnamed.cpuOverheadPct, 1)}%` : ''} | ${r.rls.overheadPct < 5 && r.rls.cpuOverheadPct < 5 ? 'yes' : 'no'} |

Login timing, unknown account vs wrong password (interleaved; goal: ratio of medians within 0.8–1.25):

${timingMarkdown(r.loginTiming)}

- The system under test: \`${r.startup.command ?? 'node --import tsx cli/src/main.ts start'}\`${r.startup.command ? '' : ' (TypeScript sources through tsx)'}.
- The gateway as a process of its own: its production bundle as the container image runs it with SERVICE=gateway (\`node services/gateway/dist/main.js\`, the Dockerfile's NODE_OPTIONS); the bare proxy: bench/src/bare-proxy.ts (Fastify and @fastify/reply-from only) through tsx.
- Start-up to ready (\`/readyz\` 200): cold ${fmt(r.startup.coldMs)} ms (empty data), warm ${fmt(r.startup.warmMs)} ms.
- RSS of the all-in-one process: idle ${fmt(r.rss.idleMiB, 1)} MiB (${fmt(r.rss.idleMiB * 1.048576)} MB${r.mode === 'servers' ? `; goal ≤ 200 MB: ${r.rss.idleMiB * 1.048576 <= 200 ? 'met' : 'missed'}` : ''}), peak under load ${fmt(r.rss.peakUnderLoadMiB, 1)} MiB.
- Check-ins: ${fmt(r.checkIns.perSec)}/s — ${r.checkIns.recorded} of ${r.checkIns.members} members checked in (unique records) in ${fmt(r.checkIns.elapsedSec, 2)} s; ${r.checkIns.note}.
- Audit ingestion (in-process consumer, ${r.ingestion.events} events for one tenant): ${fmt(r.ingestion.perSec)} events/s.
- RLS method: ${r.rls.method}
`;
  await writeFile(path.join(dir, `${name}.md`), r.tracing ? `${md}\n${tracingMarkdown(r.tracing)}` : md);
  console.log(`\nwrote bench/results/${name}.md and .json\n`);
  console.log(md);
}
