/**
 * The reads of the scale bench, over HTTP through the gateway of a running all-in-one process:
 * p50/p99 of each (own loop of concurrent workers, `lib.loop`) and the server's CPU per request
 * (user+system of its process from /proc). The same function runs on the empty and the loaded
 * database, against the same probe rows.
 */
import { readFileSync } from 'node:fs';
import { http, loop, type LoadResult } from '../lib';
import { PASSWORD, VERIFY_SLUG } from './data';
import type { Probe } from './seed';

export interface Figure extends LoadResult { name: string; cpuMsPerReq: number; note?: string }
export interface VerifyFigure { calls: number; entries: number; seconds: number; entriesPerSec: number; ok: boolean }
export interface RunFigures { figures: Figure[]; verify: VerifyFigure }

/** user+system CPU of a process in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const cursorFor = (seq: number) => Buffer.from(`v1:${seq}`).toString('base64url');

export async function measureReads(base: string, pid: number, probe: Probe, seconds: number): Promise<RunFigures> {
  const api = http(base);
  const figures: Figure[] = [];
  async function run(name: string, concurrency: number, worker: (w: number, i: number) => Promise<boolean>, note?: string) {
    let i = 0;
    await loop(concurrency, 1, (w) => worker(w, i++));
    const c0 = cpuMs(pid);
    const r = await loop(concurrency, seconds, (w) => worker(w, i++));
    const cpu = (cpuMs(pid) - c0) / Math.max(1, r.requests);
    figures.push({ name, ...r, cpuMsPerReq: cpu, note });
    console.log(`  ${name}: p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms, ${r.rps.toFixed(0)}/s, failed ${r.non2xx}, CPU ${cpu.toFixed(2)} ms/req`);
  }
  try {
    const login = async (email: string, headers: Record<string, string> = {}) => {
      const r = await api.json('POST', '/api/v1/auth/login', { email, password: PASSWORD }, headers);
      if (r.status !== 200 || !r.body?.accessToken) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
      return { access: r.body.accessToken as string, refresh: r.body.refreshToken as string };
    };
    const admin = { authorization: `Bearer ${(await login(probe.adminEmail)).access}` };
    const verifyAdmin = { authorization: `Bearer ${(await login(probe.adminEmail, { 'x-tenant': VERIFY_SLUG })).access}`, 'x-tenant': VERIFY_SLUG };

    // login: a different probe account each time (argon2id dominates; 4 workers on 2 cores)
    const sessions: Array<{ access: string; refresh: string }> = [];
    await run('login', 4, async (_w, i) => {
      sessions.push(await login(probe.users[i % probe.users.length]!.email));
      return true;
    });
    const chains = sessions.slice(0, 16).map((s) => s.refresh);
    await run('GET /auth/me', 8, async (_w, i) => (await api.json('GET', '/api/v1/auth/me', undefined, { authorization: `Bearer ${sessions[i % sessions.length]!.access}` })).status === 200);
    await run('refresh', 8, async (w) => {
      const r = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: chains[w] });
      if (r.status !== 200) return false;
      chains[w] = r.body.refreshToken;
      return true;
    });
    // "probe-0" + three digits: 1-10 accounts among the tenant's
    const prefix = (i: number) => `probe-${String(i % Math.max(1, Math.floor(probe.users.length / 10))).padStart(4, '0')}`;
    await run('admin user search, prefix', 8, async (_w, i) => {
      const r = await api.json('GET', `/api/v1/admin/users?match=prefix&limit=50&query=${prefix(i)}`, undefined, admin);
      return r.status === 200 && r.body.items.length > 0;
    }, 'match=prefix');
    await run('admin user search, substring', 8, async (_w, i) => {
      const r = await api.json('GET', `/api/v1/admin/users?limit=50&query=${prefix(i)}`, undefined, admin);
      return r.status === 200 && r.body.items.length > 0;
    }, 'the default match (contains)');
    await run('GET /audit/events, first page', 8, async () => (await api.json('GET', '/api/v1/audit/events?limit=50', undefined, admin)).status === 200);
    const first = await api.json('GET', '/api/v1/audit/events?limit=50', undefined, admin);
    const head = Number(first.body.items[0].seq);
    // the cursor of page 999 is the last seq on it: page 1,000 starts 999 × 50 entries below the head
    const page1000 = cursorFor(head - 999 * 50 + 1);
    await run('GET /audit/events, page 1,000', 8, async () => {
      const r = await api.json('GET', `/api/v1/audit/events?limit=50&cursor=${page1000}`, undefined, admin);
      return r.status === 200 && r.body.items.length === 50;
    });
    await run('GET /audit/me', 8, async (_w, i) => (await api.json('GET', '/api/v1/audit/me?limit=50', undefined, { authorization: `Bearer ${sessions[i % sessions.length]!.access}` })).status === 200);
    await run(`attendance report (${probe.rosterSize.toLocaleString('en-US')}-member event)`, 2, async () => {
      const r = await api.json('GET', `/api/v1/events/${probe.eventId}/attendance`, undefined, admin);
      return r.status === 200 && r.body.items.length >= probe.rosterSize;
    });

    // verify: whole-chain re-computation of the verify tenant, a few calls
    const t = performance.now();
    let entries = 0;
    let ok = true;
    let calls = 0;
    while (calls < 3 || performance.now() - t < seconds * 1000) {
      const r = await api.json('GET', '/api/v1/audit/verify', undefined, verifyAdmin);
      if (r.status !== 200) throw new Error(`verify: ${r.status} ${JSON.stringify(r.body)}`);
      ok &&= r.body.ok === true;
      entries += Number(r.body.checked);
      calls += 1;
      if (calls >= 20) break;
    }
    const s = (performance.now() - t) / 1000;
    const verify = { calls, entries, seconds: s, entriesPerSec: entries / s, ok };
    console.log(`  /audit/verify: ${verify.entriesPerSec.toFixed(0)} entries/s over ${calls} calls, ok ${ok}`);
    return { figures, verify };
  } finally {
    await api.close();
  }
}
