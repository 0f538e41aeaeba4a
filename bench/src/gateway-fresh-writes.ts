/**
 * Cost of the gateway's new connection per write (proxy.dispatcher.ts) on its own hop: the
 * same PATCH (small JSON body) sent by the gateway's upstream dispatcher (a new connection
 * each) and by a kept-alive undici Agent (the pool it had before), to a trivial upstream
 * HTTP server in a child process, 32 requests at a time. Rounds alternate the two; medians
 * of req/s and of CPU per request of the sending process (the gateway's side) and of the
 * upstream (the service's side). The upstream does no work, so the relative cost is an
 * upper bound: a real PATCH /api/v1/users/me also does database work.
 * Usage: node --import tsx bench/src/gateway-fresh-writes.ts [rounds] [seconds]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import { cpuMs } from './cpu';
import { createUpstreamDispatcher } from '../../services/gateway/src/modules/proxy/proxy.dispatcher';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 3);
const CONCURRENCY = 32;

const upstreamSource = `
const http = require('node:http');
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"ok":true}'); }); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));`;
const child = spawn(process.execPath, ['-e', upstreamSource], { stdio: ['ignore', 'pipe', 'inherit'] });
const [portLine] = (await once(child.stdout, 'data')) as [Buffer];
const origin = `http://127.0.0.1:${portLine.toString().trim()}`;

async function run(d: Dispatcher, ms: number) {
  const end = Date.now() + ms;
  let done = 0;
  let failed = 0;
  const loop = async () => {
    while (Date.now() < end) {
      try {
        const r = await d.request({ origin, path: '/api/v1/users/me', method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"displayName":"x"}' });
        await r.body.dump();
        if (r.statusCode === 200) done++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return { done, failed };
}

const dispatchers: Record<string, Dispatcher> = {
  pooled: new Agent({ connections: 128, pipelining: 1, keepAliveTimeout: 4000, keepAliveMaxTimeout: 4000 }),
  fresh: createUpstreamDispatcher({ connections: 128, keepAliveMs: 4000, headersTimeoutMs: 30_000, bodyTimeoutMs: 60_000, connectTimeoutMs: 5000 }),
};
const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' / ');
const runs: { variant: string; round: number; rps: number; gwCpu: number; upCpu: number; failed: number }[] = [];
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 ? ['pooled', 'fresh'] : ['fresh', 'pooled'];
  for (const variant of order) {
    const d = dispatchers[variant]!;
    await run(d, 1000); // warm-up
    const c0 = process.cpuUsage();
    const u0 = cpuMs(child.pid!);
    const t0 = performance.now();
    const { done, failed } = await run(d, seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const up = cpuMs(child.pid!) - u0;
    runs.push({ variant, round, rps: done / wall, gwCpu: (c.user + c.system) / 1000 / done, upCpu: up / done, failed });
    process.stdout.write(`${JSON.stringify(runs.at(-1))}\n`);
  }
}
const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' / ');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const summary = ['pooled', 'fresh'].map((variant) => {
  const r = runs.filter((x) => x.variant === variant);
  return { variant, rps: median(r.map((x) => x.rps)), gwCpu: median(r.map((x) => x.gwCpu)), upCpu: median(r.map((x) => x.upCpu)), failed: r.reduce((a, x) => a + x.failed, 0) };
});
await Promise.all(Object.values(dispatchers).map((d) => d.close()));
child.kill();

const date = new Date().toISOString().slice(0, 10);
const [p, f] = summary as [(typeof summary)[0], (typeof summary)[0]];
const pct = (a: number, b: number) => `${((b / a - 1) * 100).toFixed(1)}%`;
const md = `# Gateway hop: a new upstream connection per write vs the kept-alive pool (${date})

\`node --import tsx bench/src/gateway-fresh-writes.ts ${rounds} ${seconds}\` (bench/src/gateway-fresh-writes.ts): PATCH
with a small JSON body, ${CONCURRENCY} at a time, ${seconds} s per run after a 1 s warm-up, sent by the gateway's
upstream dispatcher (proxy.dispatcher.ts: a new connection per write) and by a kept-alive undici Agent (the gateway's
pool before), to a trivial Node HTTP server (no work) in a child process over loopback; ${rounds} rounds alternating
the order; medians. CPU = user + system per request of the sending process (the gateway's side, including the load
loop) and of the upstream (the service's side). The upstream does nothing, so the relative figures are an upper
bound for a real write (PATCH /api/v1/users/me does database work of ~1.5-2 ms CPU in the services).
Machine: 2 cores shared with other jobs, very busy: load average 1/5/15 min before ${loadBefore}, after ${loadAfter}.
Noisy; one short run.

| variant | req/s | vs pooled | gateway side CPU ms/req | upstream CPU ms/req | failed |
|---|---:|---:|---:|---:|---:|
| pooled (kept alive) | ${p.rps.toFixed(0)} |  | ${p.gwCpu.toFixed(3)} | ${p.upCpu.toFixed(3)} | ${p.failed} |
| fresh (shipped for POST/PATCH/LOCK) | ${f.rps.toFixed(0)} | ${pct(p.rps, f.rps)} | ${f.gwCpu.toFixed(3)} (${pct(p.gwCpu, f.gwCpu)}) | ${f.upCpu.toFixed(3)} (${pct(p.upCpu, f.upCpu)}) | ${f.failed} |

Each run:
${runs.map((r) => `- round ${r.round} ${r.variant}: ${r.rps.toFixed(0)}/s; CPU ms/req gateway side ${r.gwCpu.toFixed(3)} / upstream ${r.upCpu.toFixed(3)}; failed ${r.failed}`).join('\n')}
`;
writeFileSync(`bench/results/${date}-gateway-fresh-writes.md`, md);
writeFileSync(`bench/results/${date}-gateway-fresh-writes.json`, JSON.stringify({ rounds, seconds, loadBefore, loadAfter, runs, summary }, null, 2));
process.stdout.write(md);
