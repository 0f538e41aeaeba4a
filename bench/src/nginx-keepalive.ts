/**
 * The cost of nginx's upstream connection policy (issue 14's kill race), in one run through the
 * real nginx to a running system: the fault suite's cluster (two replicas of every service from
 * the built bundles, on a PostgreSQL, Redis and NATS of its own, test/src/faults/cluster.ts).
 * Three variants of the shipped site that differ only in its two `map`s:
 * - keepalive: every request on the kept-alive pools (the site before the fix);
 * - none: every request on a new connection (`_fresh` pools, `Connection: close`);
 * - split (shipped): POST, PATCH and LOCK on new connections, other methods kept alive.
 * Authenticated `GET /api/v1/auth/me` (crosses nginx twice: public site → gateway → internal
 * listener → auth) and `PATCH /api/v1/users/me` (a profile update, a write). The variants
 * alternate by reloading nginx, in a rotating order, so drift on a shared machine falls on
 * each; medians over the rounds of req/s, and of the CPU (user + system) per request of nginx
 * (master and worker) and of the eight service processes. Also counted: the sockets that went
 * into TIME_WAIT toward or from the replicas during each run, and on whose side.
 *
 *   node --import ./scripts/check-node.mjs --import tsx bench/src/nginx-keepalive.ts [rounds] [seconds]
 *
 * Writes bench/results/<day>-nginx-upstream-keepalive.md (and .json).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../../test/src/faults/cluster';
import { SHIPPED_SITE } from '../../test/src/deploy/nginx-site';
import { fmt, load, machine, root, type LoadResult } from './lib';

const ROUNDS = Number(process.argv[2] ?? 5);
const SECONDS = Number(process.argv[3] ?? 8);
const CONNECTIONS = 32;
const HOST = 'gatehouse.test';
const VARIANTS = ['keepalive', 'none', 'split'] as const;
type Variant = (typeof VARIANTS)[number];
const ENDPOINTS = ['GET /auth/me', 'PATCH /users/me'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

/** The shipped site with its two `map`s sending every method one way (keepalive, none) or as shipped (split). */
function siteVariant(shipped: string, v: Variant): string {
  if (v === 'split') return shipped;
  const [pool, connection] = v === 'keepalive' ? ['""', '""'] : ['_fresh', 'close'];
  const map = (variable: string, value: string) => {
    const re = new RegExp(`map \\$request_method \\$${variable} \\{[^}]*\\}`);
    if (!re.test(shipped)) throw new Error(`no map for $${variable} in the shipped site`);
    return (s: string) => s.replace(re, `map $request_method $${variable} {\n    default ${value};\n}`);
  };
  return map('gatehouse_upstream_connection', connection)(map('gatehouse_pool', pool)(shipped));
}

/** CPU time (user + system) of a process in ms, 0 when it is gone (Linux /proc). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** nginx's master and its current workers. */
function nginxPids(master: number): number[] {
  const out = [master];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === master) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The TIME_WAIT sockets whose local port (the replica closed first) or peer port (nginx closed first) is a replica's, as `side local peer`. */
function timeWait(replicaPorts: Set<number>): Set<string> {
  const out = new Set<string>();
  // filtered by ss itself: the machine may hold many other TIME_WAIT sockets
  const filter = [...replicaPorts].map((p) => `sport = :${p} or dport = :${p}`).join(' or ');
  for (const l of execFileSync('ss', ['-Htan', 'state', 'time-wait', `( ${filter} )`], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 }).split('\n')) {
    const [local, peer] = l.trim().split(/\s+/).slice(-2);
    const port = (a?: string) => Number(a?.split(':').pop());
    if (replicaPorts.has(port(local))) out.add(`replica ${local} ${peer}`);
    else if (replicaPorts.has(port(peer))) out.add(`nginx ${local} ${peer}`);
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Run {
  variant: Variant;
  endpoint: Endpoint;
  round: number;
  result: LoadResult;
  nginxCpuMsPerReq: number;
  serverCpuMsPerReq: number;
  /** sockets that went into TIME_WAIT during the run, on each side, per 1,000 requests */
  timeWaitPerK: { replica: number; nginx: number };
}

async function main() {
  const t0 = Date.now();
  const log = (line: string) => console.log(`[keepalive +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}`);
  log('building the bundles (node scripts/build.mjs)');
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'pipe' });
  const loadBefore = os.loadavg();
  const c = await startCluster(log);
  const runs: Run[] = [];
  try {
    const shipped = readFileSync(SHIPPED_SITE, 'utf8');
    const sites = Object.fromEntries(VARIANTS.map((v) => [v, siteVariant(shipped, v)])) as Record<Variant, string>;
    const reg = await fetch(`${c.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { host: HOST, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench-keepalive@faults.test', password: 'bench password that is long enough' }),
    });
    const body = (await reg.json()) as { accessToken?: string };
    if (reg.status !== 201 || !body.accessToken) throw new Error(`register: ${reg.status} ${JSON.stringify(body)}`);
    const auth = { host: HOST, authorization: `Bearer ${body.accessToken}` };
    const requests: Record<Endpoint, Parameters<typeof load>[0]> = {
      'GET /auth/me': { url: `${c.base}/api/v1/auth/me`, headers: auth, connections: CONNECTIONS, seconds: SECONDS },
      'PATCH /users/me': { url: `${c.base}/api/v1/users/me`, method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'Bench Keepalive' }), connections: CONNECTIONS, seconds: SECONDS },
    };
    const replicaPorts = new Set(c.replicas.map((r) => r.port));
    const servers = c.replicas.map((r) => r.proc.child.pid!);
    const sum = (ps: number[]) => ps.reduce((a, p) => a + cpuMs(p), 0);
    for (let round = 0; round < ROUNDS; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const variant of order) {
        await c.nginx.reload({}, sites[variant]);
        // the old worker finishes its connections (the gateways' kept-alive ones) and exits
        for (let i = 0; i < 100 && nginxPids(c.nginx.pid).length > 2; i++) await sleep(100);
        for (const endpoint of ENDPOINTS) {
          await load({ ...requests[endpoint], seconds: 2 }); // warm-up
          const pids = nginxPids(c.nginx.pid);
          const tw0 = timeWait(replicaPorts);
          const [n0, s0] = [sum(pids), sum(servers)];
          const result = await load(requests[endpoint]);
          const [n1, s1] = [sum(pids), sum(servers)];
          const fresh = [...timeWait(replicaPorts)].filter((t) => !tw0.has(t));
          const perK = (side: string) => (1000 * fresh.filter((t) => t.startsWith(side)).length) / Math.max(1, result.requests);
          const r: Run = {
            variant,
            endpoint,
            round,
            result,
            nginxCpuMsPerReq: (n1 - n0) / Math.max(1, result.requests),
            serverCpuMsPerReq: (s1 - s0) / Math.max(1, result.requests),
            timeWaitPerK: { replica: perK('replica'), nginx: perK('nginx') },
          };
          runs.push(r);
          log(`round ${round + 1} ${variant} ${endpoint}: ${fmt(result.rps)}/s p50 ${result.p50} ms p99 ${result.p99} ms non-2xx ${result.non2xx} errors ${result.errors}; CPU ms/req nginx ${fmt(r.nginxCpuMsPerReq, 3)} servers ${fmt(r.serverCpuMsPerReq, 3)}; new TIME_WAIT per 1,000 requests: replica side ${fmt(r.timeWaitPerK.replica)}, nginx side ${fmt(r.timeWaitPerK.nginx)}`);
        }
      }
    }
    await c.nginx.reload({}, shipped);
  } finally {
    await c.close();
  }
  const loadAfter = os.loadavg();
  const summary = ENDPOINTS.map((endpoint) => ({
    endpoint,
    variants: VARIANTS.map((variant) => {
      const of = runs.filter((r) => r.variant === variant && r.endpoint === endpoint);
      const med = (f: (r: Run) => number) => median(of.map(f));
      return {
        variant,
        rps: med((r) => r.result.rps),
        p50: med((r) => r.result.p50),
        p99: med((r) => r.result.p99),
        nginxCpuMsPerReq: med((r) => r.nginxCpuMsPerReq),
        serverCpuMsPerReq: med((r) => r.serverCpuMsPerReq),
        failed: of.reduce((a, r) => a + r.result.non2xx + r.result.errors, 0),
        timeWaitReplicaPerK: med((r) => r.timeWaitPerK.replica),
        timeWaitNginxPerK: med((r) => r.timeWaitPerK.nginx),
      };
    }),
  }));
  const pct = (a: number, b: number) => `${b >= a ? '+' : ''}${fmt((100 * (b - a)) / a, 1)}%`;
  const m = machine();
  const la = (x: number[]) => x.map((v) => v.toFixed(2)).join(' / ');
  const day = new Date(t0).toISOString().slice(0, 10);
  const table = summary
    .map(({ endpoint, variants }) => {
      const k = variants.find((v) => v.variant === 'keepalive')!;
      return variants
        .map((v) => `| ${endpoint} | ${v.variant}${v.variant === 'split' ? ' (shipped)' : ''} | ${fmt(v.rps)} | ${v.variant === 'keepalive' ? '' : pct(k.rps, v.rps)} | ${fmt(v.p50, 1)} | ${fmt(v.p99, 1)} | ${fmt(v.nginxCpuMsPerReq, 3)} | ${fmt(v.serverCpuMsPerReq, 3)} | ${v.variant === 'keepalive' ? '' : pct(k.serverCpuMsPerReq + k.nginxCpuMsPerReq, v.serverCpuMsPerReq + v.nginxCpuMsPerReq)} | ${v.failed} | ${fmt(v.timeWaitReplicaPerK)} / ${fmt(v.timeWaitNginxPerK)} |`)
        .join('\n');
    })
    .join('\n');
  const md = `# nginx upstream connections: kept alive, one per request, or split by method (${day})

\`node --import tsx bench/src/nginx-keepalive.ts ${ROUNDS} ${SECONDS}\` (bench/src/nginx-keepalive.ts): the fault suite's cluster (two
replicas of every service from the built bundles, nginx with the shipped site, plain HTTP, one worker,
PostgreSQL, Redis and NATS of its own), autocannon with ${CONNECTIONS} kept-alive client connections, ${SECONDS} s per run after a
2 s warm-up. \`GET /api/v1/auth/me\` (authenticated) crosses nginx twice: public site → gateway → internal listener
→ auth; \`PATCH /api/v1/users/me\` (a profile update) likewise, to users. ${ROUNDS} rounds, the three variants in a
rotating order (nginx reloaded between them); medians over the rounds. Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB,
Node ${m.node}, shared with other jobs (load average 1/5/15 min before ${la(loadBefore)}, after ${la(loadAfter)});
load generator on the same cores.

The variants differ only in the site's two \`map\`s:
- **keepalive**: every request on the kept-alive pools (the site before the kill-race fix);
- **none**: every request on a new upstream connection (\`_fresh\` pools, \`Connection: close\`);
- **split** (shipped): POST, PATCH and LOCK on new connections, every other method kept alive.

| request | variant | req/s | vs keepalive | p50 ms | p99 ms | nginx CPU ms/req | servers' CPU ms/req | CPU/req vs keepalive | failed | new TIME_WAIT per 1,000 req (replica / nginx side) |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${table}

Each run (req/s; CPU ms per request nginx / servers):
${runs.map((r) => `- round ${r.round + 1} ${r.variant} ${r.endpoint}: ${fmt(r.result.rps)}/s; ${fmt(r.nginxCpuMsPerReq, 3)} / ${fmt(r.serverCpuMsPerReq, 3)}`).join('\n')}

CPU of the servers: all eight service processes (user + system), most of it the two gateways and the two
replicas of the service the request reaches; nginx: its master and worker. TIME_WAIT: the sockets toward or from
a replica's port that entered TIME_WAIT during the run (60 s on Linux), on the replica's side (it closed first)
or on nginx's (nginx closed first: each holds one of nginx's local ports toward that replica for 60 s).
`;
  const out = path.join(root, 'bench/results', `${day}-nginx-upstream-keepalive`);
  writeFileSync(`${out}.md`, md);
  writeFileSync(`${out}.json`, `${JSON.stringify({ date: new Date(t0).toISOString(), rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, loadBefore, loadAfter, machine: m, summary, runs }, null, 2)}\n`);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  process.exit(1);
});
