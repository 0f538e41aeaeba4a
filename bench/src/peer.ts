/**
 * `BENCH_ONLY=peer npm run bench` (issue 13 item 5): Better Auth beside Gatehouse in the same
 * run, on the same PostgreSQL, so the ratios are measured, not remembered. Gatehouse's login/s
 * and authenticated GET /api/v1/auth/me/s (through the gateway) against Better Auth's
 * email sign-in/s and get-session/s (peer-server.ts), alternated G P G P for each pair so both
 * see the same machine load; medians of the rounds. Same connection counts as the main bench
 * (8 for logins, 32 for the authenticated GET).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { fmt, freePort, http, load, root, spawnNode, type LoadResult } from './lib';

export interface PeerFigures {
  rounds: number;
  gatehouseLogin: LoadResult[];
  peerSignIn: LoadResult[];
  gatehouseMe: LoadResult[];
  peerGetSession: LoadResult[];
  medians: { gatehouseLogin: number; peerSignIn: number; gatehouseMe: number; peerGetSession: number };
  peer: { package: string; version: string; passwordHash: string };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function measurePeer(base: string, databaseUrl: string, seconds: number, rounds: number, env: Record<string, string | undefined>): Promise<PeerFigures> {
  const dbName = `gh_bench_peer_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const u = new URL(databaseUrl);
  u.pathname = `/${dbName}`;
  const port = await freePort();
  const peer = spawnNode('bench/src/peer-server.ts', [], { ...env, PORT: String(port), PEER_DATABASE_URL: u.toString() });
  const api = http(base);
  try {
    await peer.waitFor('peer ready');
    const peerBase = `http://127.0.0.1:${port}`;
    const origin = { origin: peerBase, 'content-type': 'application/json' };
    const password = 'bench password that is long enough';
    // Gatehouse: one user for the logins, one token for GET /me
    const gEmail = `peer-g-${Date.now()}@example.com`;
    const reg = await api.json('POST', '/api/v1/auth/register', { email: gEmail, password });
    if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
    const bearer = { authorization: `Bearer ${reg.body.accessToken}` };
    // Better Auth: one user, a session cookie for get-session
    const pEmail = `peer-p-${Date.now()}@example.com`;
    const su = await fetch(`${peerBase}/api/auth/sign-up/email`, { method: 'POST', headers: origin, body: JSON.stringify({ email: pEmail, password, name: 'bench' }) });
    if (!su.ok) throw new Error(`peer sign-up failed: ${su.status} ${await su.text()}`);
    const si = await fetch(`${peerBase}/api/auth/sign-in/email`, { method: 'POST', headers: origin, body: JSON.stringify({ email: pEmail, password }) });
    if (!si.ok) throw new Error(`peer sign-in failed: ${si.status} ${await si.text()}`);
    const cookie = si.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const gs = await fetch(`${peerBase}/api/auth/get-session`, { headers: { cookie } });
    const session = (await gs.json()) as { user?: { email?: string } } | null;
    if (session?.user?.email !== pEmail) throw new Error(`peer get-session did not answer the session: ${JSON.stringify(session)}`);

    const f: PeerFigures = {
      rounds,
      gatehouseLogin: [],
      peerSignIn: [],
      gatehouseMe: [],
      peerGetSession: [],
      medians: { gatehouseLogin: 0, peerSignIn: 0, gatehouseMe: 0, peerGetSession: 0 },
      peer: { package: 'better-auth', version: (JSON.parse(readFileSync(path.join(root, 'node_modules/better-auth/package.json'), 'utf8')) as { version: string }).version, passwordHash: 'scrypt (Better Auth default)' },
    };
    // warm-up both
    await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 2 });
    await load({ url: `${peerBase}/api/auth/get-session`, headers: { cookie }, connections: 32, seconds: 2 });
    for (let i = 0; i < rounds; i++) {
      f.gatehouseLogin.push(await load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: gEmail, password }), connections: 8, seconds }));
      f.peerSignIn.push(await load({ url: `${peerBase}/api/auth/sign-in/email`, method: 'POST', headers: origin, body: JSON.stringify({ email: pEmail, password }), connections: 8, seconds }));
      f.gatehouseMe.push(await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds }));
      f.peerGetSession.push(await load({ url: `${peerBase}/api/auth/get-session`, headers: { cookie }, connections: 32, seconds }));
      console.log(`peer round ${i + 1}: login ${fmt(f.gatehouseLogin.at(-1)!.rps)}/s vs sign-in ${fmt(f.peerSignIn.at(-1)!.rps)}/s; me ${fmt(f.gatehouseMe.at(-1)!.rps)}/s vs get-session ${fmt(f.peerGetSession.at(-1)!.rps)}/s`);
    }
    const m = (xs: LoadResult[]) => median(xs.map((x) => x.rps));
    f.medians = { gatehouseLogin: m(f.gatehouseLogin), peerSignIn: m(f.peerSignIn), gatehouseMe: m(f.gatehouseMe), peerGetSession: m(f.peerGetSession) };
    return f;
  } finally {
    await api.close();
    await peer.stop();
    await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
  }
}

export function peerMarkdown(f: PeerFigures): string {
  const row = (name: string, xs: LoadResult[], med: number) =>
    `| ${name} | ${xs.map((x) => `${fmt(x.rps)} (p99 ${fmt(x.p99)} ms, non-2xx ${x.non2xx})`).join(' · ')} | **${fmt(med)}** |`;
  return [
    `Peer: ${f.peer.package} ${f.peer.version} (email+password, password hash ${f.peer.passwordHash}; rate limit off), node:http with its Node handler, on the same PostgreSQL in a database of its own. Rounds alternate Gatehouse and the peer.`,
    '',
    '| figure | per round /s | median /s |',
    '|---|---|---:|',
    row('Gatehouse login (8 conns)', f.gatehouseLogin, f.medians.gatehouseLogin),
    row('Better Auth sign-in/email (8 conns)', f.peerSignIn, f.medians.peerSignIn),
    row('Gatehouse GET /api/v1/auth/me via gateway (32 conns)', f.gatehouseMe, f.medians.gatehouseMe),
    row('Better Auth GET get-session (32 conns)', f.peerGetSession, f.medians.peerGetSession),
    '',
    `Ratios of medians: login / sign-in ${fmt(f.medians.gatehouseLogin / f.medians.peerSignIn, 2)}×; me / get-session ${fmt(f.medians.gatehouseMe / f.medians.peerGetSession, 2)}× (issue 13 goal: ≥ 8×).`,
    '',
  ].join('\n');
}
