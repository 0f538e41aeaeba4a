/**
 * The cost of tracing, in one run: the all-in-one system started twice on the same backends,
 * once with tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT: the SDK is not loaded) and once
 * exporting every span over OTLP/HTTP (JSON) to a local receiver; login/s and authenticated
 * `GET /api/v1/auth/me`/s in each, alternating off/on/off/on so drift on a shared machine
 * falls on both. Goal: tracing on costs under 10%.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startOtlpReceiver } from '../../test/src/e2e/otlp-receiver';
import { fmt, freePort, http, load, spawnNode, type LoadResult } from './lib';

export interface TracingCost {
  rounds: number;
  off: { login: LoadResult; authMe: LoadResult };
  on: { login: LoadResult; authMe: LoadResult };
  exports: number;
  exportedBytes: number;
  loginCostPct: number;
  authMeCostPct: number;
  protocol: string;
}

const mean = (xs: LoadResult[]): LoadResult => {
  const n = xs.length;
  const sum = (k: keyof LoadResult) => xs.reduce((a, x) => a + x[k], 0);
  return { rps: sum('rps') / n, p50: sum('p50') / n, p99: sum('p99') / n, requests: sum('requests'), non2xx: sum('non2xx'), errors: sum('errors'), connections: xs[0]!.connections, seconds: sum('seconds') };
};

/** Runs `rounds` × (off, on); `env` is the bench's environment for `gatehouse start` (data dir, backends, limits). */
export async function measureTracingCost(env: Record<string, string | undefined>, seconds: number, rounds = 2): Promise<TracingCost> {
  const receiver = await startOtlpReceiver({ sink: true });
  const runs: Record<'off' | 'on', { login: LoadResult[]; authMe: LoadResult[] }> = { off: { login: [], authMe: [] }, on: { login: [], authMe: [] } };
  const password = 'bench password that is long enough';
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['off', 'on'] as const) {
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        // the default protocol (http/protobuf); the receiver only counts what arrives
        const tracing = mode === 'on' ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } : {};
        const child = spawnNode('cli/src/main.ts', ['start'], { ...env, PORT: String(port), METRICS_PORT: '0', LOG_LEVEL: 'warn', ...tracing });
        const api = http(base);
        try {
          for (;;) {
            const r = await fetch(`${base}/readyz`).catch(() => undefined);
            if (r?.ok) break;
            if (child.proc.exitCode !== null) throw new Error(`gatehouse start exited:\n${child.lines.slice(-20).join('\n')}`);
            await sleep(50);
          }
          const email = `bench-trace-${mode}-${round}-${Date.now()}@example.com`;
          const reg = await api.json('POST', '/api/v1/auth/register', { email, password });
          if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
          const bearer = { authorization: `Bearer ${reg.body.accessToken}` };
          await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 2 }); // warm-up
          const login = await load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }), connections: 8, seconds });
          const authMe = await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds });
          runs[mode].login.push(login);
          runs[mode].authMe.push(authMe);
          console.log(`tracing ${mode} (round ${round + 1}): login ${fmt(login.rps)}/s p99 ${login.p99} ms; GET /auth/me ${fmt(authMe.rps)}/s p99 ${authMe.p99} ms`);
        } finally {
          await api.close();
          await child.stop();
        }
      }
    }
  } finally {
    await receiver.close();
  }
  const off = { login: mean(runs.off.login), authMe: mean(runs.off.authMe) };
  const on = { login: mean(runs.on.login), authMe: mean(runs.on.authMe) };
  const cost = (a: LoadResult, b: LoadResult) => (100 * (a.rps - b.rps)) / a.rps;
  return { rounds, off, on, exports: receiver.exports, exportedBytes: receiver.bytes, loginCostPct: cost(off.login, on.login), authMeCostPct: cost(off.authMe, on.authMe), protocol: 'OTLP/HTTP protobuf (the default) to a local receiver that counts and discards (test/src/e2e/otlp-receiver.ts, sink mode)' };
}

/** The markdown section of the results. */
export function tracingMarkdown(t: TracingCost): string {
  const row = (label: string, x: LoadResult) => `| ${label} | ${fmt(x.rps)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${x.non2xx} |`;
  return `## Cost of tracing

${t.rounds} rounds of (off, on), means; exporting: ${t.protocol}: ${t.exports.toLocaleString('en-US')} export requests, ${fmt(t.exportedBytes / 1048576, 1)} MiB.
Every span is kept (no sampling); a sampler (\`OTEL_TRACES_SAMPLER=parentbased_traceidratio\`) lowers the cost in proportion.

| run | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
${row('POST /auth/login, tracing off (8 conns)', t.off.login)}
${row('POST /auth/login, tracing on', t.on.login)}
${row('GET /auth/me, tracing off (32 conns)', t.off.authMe)}
${row('GET /auth/me, tracing on', t.on.authMe)}

| goal | measured | met |
|---|---|---|
| login/s with tracing on within 10% of off | ${fmt(t.loginCostPct, 1)}% slower | ${t.loginCostPct < 10 ? 'yes' : 'no'} |
| GET /auth/me/s with tracing on within 10% of off | ${fmt(t.authMeCostPct, 1)}% slower | ${t.authMeCostPct < 10 ? 'yes' : 'no'} |
`;
}
