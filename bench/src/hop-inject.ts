/**
 * What the all-in-one process's gateway-to-service hop costs, and what handing the request over
 * in process would cost instead: one Fastify app answering a `GET /api/v1/auth/me`-sized JSON
 * body, called in the same process through undici over loopback (what the gateway's forwarding
 * does, 32 connections) and through Fastify's `inject` (light-my-request, no socket). CPU of the
 * process per request (both ends), 32,000 requests 32 at a time per run, 6 runs of each
 * interleaved; medians. Not part of `npm run bench`: `node --import tsx bench/src/hop-inject.ts`.
 */
import Fastify from 'fastify';
import { Pool } from 'undici';
import { median } from './cpu.report';
import { fmt } from './lib';

const PATH = '/api/v1/auth/me';
const REQUESTS = 32_000;
const CONCURRENCY = 32;
const app = Fastify({ logger: false });
const answer = { id: '0b7c2c36-8f0e-4c36-9d8a-1f9b1c8f2a11', email: 'someone@example.com', name: 'Some One', roles: ['user'], mfa: { totp: false, passkeys: 0 }, createdAt: new Date().toISOString() };
app.get(PATH, async () => answer);
await app.listen({ host: '127.0.0.1', port: 0 });
const pool = new Pool(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, { connections: CONCURRENCY });
// the headers the gateway forwards: a bearer token of an RS256 access token's size and its own
const headers = { authorization: `Bearer ${'x'.repeat(780)}`, 'x-request-id': 'a-request-id', 'x-forwarded-for': '127.0.0.1', 'x-gatehouse-tenant': answer.id };

const ways = {
  async http() {
    const r = await pool.request({ path: PATH, method: 'GET', headers });
    await r.body.arrayBuffer();
  },
  async inject() {
    const r = await app.inject({ method: 'GET', url: PATH, headers });
    if (r.statusCode !== 200) throw new Error(`inject: ${r.statusCode}`);
  },
};
type Way = keyof typeof ways;

/** µs of this process' CPU per request, `n` requests `CONCURRENCY` at a time. */
async function run(way: Way, n: number): Promise<number> {
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < n / CONCURRENCY; i++) await ways[way]();
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

try {
  for (const way of Object.keys(ways) as Way[]) await run(way, 8000); // warm-up
  const cpu: Record<Way, number[]> = { http: [], inject: [] };
  for (let r = 0; r < 6; r++) {
    for (const way of (r % 2 ? ['inject', 'http'] : ['http', 'inject']) as Way[]) cpu[way].push(await run(way, REQUESTS));
  }
  for (const way of Object.keys(ways) as Way[]) console.log(`${way.padEnd(6)} ${cpu[way].map((x) => fmt(x, 1)).join(', ')} µs per request; median ${fmt(median(cpu[way]), 1)}`);
  console.log(`inject vs loopback HTTP: ${fmt(100 * (median(cpu.inject) / median(cpu.http) - 1), 1)}%`);
} finally {
  await pool.close();
  await app.close();
}
