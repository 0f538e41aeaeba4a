/**
 * The gateway's own CPU per request, A/B (issue 13): two gateway processes, the production
 * bundle of this checkout (B) and of BENCH_BASE_ROOT (A, a built checkout), in front of the
 * same all-in-one services (this checkout's bundle), measured in turn round by round (the order
 * reversed every other round) on authenticated GETs. CPU = user + system of the gateway process
 * over the run / requests completed; medians over the rounds. Both sides forward to the same
 * services, so what differs is only the gateway's code.
 * `npm run build && BENCH_ONLY=gateway BENCH_BASE_ROOT=<built checkout> npm run bench`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cpuMs } from './cpu';
import { median } from './cpu.report';
import { fmt, freePort, http, load, root, spawnNode, type Child } from './lib';

export interface GatewayAbRun { round: number; side: 'A' | 'B'; path: string; rps: number; cpuUs: number; non2xx: number }
export interface GatewayAbFigures { baseRoot: string; paths: string[]; rounds: number; seconds: number; runs: GatewayAbRun[]; medians: Record<string, { A: number; B: number }> }

const GATEWAY = 'services/gateway/dist/main.js';
const PATHS = ['/api/v1/users/me', '/api/v1/auth/me'];
const CONNECTIONS = 32;

export async function measureGatewayAb(env: Record<string, string | undefined>, o: { baseRoot: string; rounds: number; seconds: number }): Promise<GatewayAbFigures> {
  for (const r of [root, o.baseRoot]) if (!existsSync(path.join(r, GATEWAY)) || !existsSync(path.join(r, 'cli/dist/main.js'))) throw new Error(`${r} is not built (npm run build)`);
  const dirs: string[] = [];
  const dir = async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'gh-bench-gwab-'));
    dirs.push(d);
    return d;
  };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const sys = spawnNode('cli/dist/main.js', ['start'], { ...env, PORT: String(port), DATA_DIR: await dir() });
  const gateways: Array<{ side: 'A' | 'B'; child: Child; url: string }> = [];
  try {
    const ready = await sys.waitFor('gatehouse ready');
    await sys.ready(base);
    const services = ready.services as Record<string, { port: number }>;
    const r = await http(base).json('POST', '/api/v1/auth/register', { email: `gwab-${Date.now()}@example.com`, password: 'bench password that is long enough' });
    if (r.status !== 201) throw new Error(`register failed: ${r.status}`);
    const token = (r.body as { accessToken: string }).accessToken;
    const bearer = { authorization: `Bearer ${token}` };
    const issuer = String(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iss);
    for (const [side, checkout] of [['A', o.baseRoot], ['B', root]] as const) {
      const gwPort = await freePort();
      const child = spawnNode(path.join(checkout, GATEWAY), [], {
        ...env,
        PORT: String(gwPort),
        DATA_DIR: await dir(),
        TOKEN_ISSUER: issuer,
        AUTH_URL: `http://127.0.0.1:${services.auth!.port}`,
        USERS_URL: `http://127.0.0.1:${services.users!.port}`,
        AUDIT_URL: `http://127.0.0.1:${services.audit!.port}`,
      }, [], checkout);
      const url = `http://127.0.0.1:${gwPort}`;
      gateways.push({ side, child, url });
      await child.ready(url);
    }
    // every measured path warmed up first (JWKS, tenant cache, JIT)
    for (const g of gateways) for (const p of PATHS) await load({ url: `${g.url}${p}`, headers: bearer, connections: CONNECTIONS, seconds: 2 });
    const runs: GatewayAbRun[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      for (const g of round % 2 ? gateways : [...gateways].reverse()) {
        for (const p of PATHS) {
          const before = cpuMs(g.child.proc.pid!);
          const res = await load({ url: `${g.url}${p}`, headers: bearer, connections: CONNECTIONS, seconds: o.seconds });
          const cpuUs = ((cpuMs(g.child.proc.pid!) - before) * 1000) / Math.max(1, res.requests);
          runs.push({ round, side: g.side, path: p, rps: res.rps, cpuUs, non2xx: res.non2xx });
          console.log(`gateway A/B round ${round} ${g.side} ${p}: ${fmt(res.rps)}/s, ${fmt(cpuUs)} µs of gateway CPU per request, non-2xx ${res.non2xx}`);
        }
      }
    }
    const medians: GatewayAbFigures['medians'] = {};
    for (const p of PATHS) {
      const of = (side: 'A' | 'B') => median(runs.filter((x) => x.path === p && x.side === side).map((x) => x.cpuUs));
      medians[p] = { A: of('A'), B: of('B') };
    }
    return { baseRoot: o.baseRoot, paths: PATHS, rounds: o.rounds, seconds: o.seconds, runs, medians };
  } finally {
    for (const g of gateways) await g.child.stop();
    await sys.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

export function gatewayAbMarkdown(f: GatewayAbFigures): string {
  const rows = f.paths.map((p) => {
    const m = f.medians[p]!;
    const rps = (side: 'A' | 'B') => median(f.runs.filter((x) => x.path === p && x.side === side).map((x) => x.rps));
    return `| GET ${p} | ${fmt(m.A)} | ${fmt(m.B)} | ${fmt(100 * (m.B / m.A - 1), 1)}% | ${fmt(rps('A'))} | ${fmt(rps('B'))} |`;
  });
  const perRound = f.runs.map((x) => `| ${x.round} | ${x.side} | GET ${x.path} | ${fmt(x.cpuUs)} | ${fmt(x.rps)} | ${x.non2xx} |`);
  return [
    `A = the gateway bundle of \`${f.baseRoot}\`, B = this checkout's; both in front of the same all-in-one services (this checkout's bundle), ${CONNECTIONS} connections, ${f.seconds} s per run, ${f.rounds} rounds (order reversed every other round). Medians over the rounds.`,
    '',
    '| request | A gateway CPU µs/req | B gateway CPU µs/req | B vs A | A req/s | B req/s |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    '| round | side | request | gateway CPU µs/req | req/s | non-2xx |',
    '|---|---|---|---:|---:|---:|',
    ...perRound,
    '',
  ].join('\n');
}
