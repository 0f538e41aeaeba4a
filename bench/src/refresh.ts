/**
 * `BENCH_ONLY=refresh npm run bench`: refresh rotations/s (issue 13), 32 parallel token chains,
 * each worker following its own chain. With BENCH_BASE_ROOT set to another checkout (e.g.
 * `git archive main | tar -x -C /tmp/base` with node_modules linked), the same run alternates
 * that checkout (A) and this one (B), A B A B, each started fresh on an emptied database, so
 * the ratio is measured under the same machine load; the figures are the per-round values and
 * their medians.
 */
import { fmt, http, load, loop, root, spawnNode, vacuumAnalyze, type LoadResult } from './lib';

export interface RefreshRound { side: 'A' | 'B'; root: string; result: LoadResult; me: LoadResult }
export interface RefreshFigures { rounds: RefreshRound[]; autovacuum?: string; medianA?: number; medianB: number; ratio?: number; chains: number; meMedianA?: number; meMedianB: number }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function measureRefresh(
  env: Record<string, string | undefined>,
  base: string,
  seconds: number,
  opts: { baseRoot?: string; rounds: number; reset: () => Promise<void> },
): Promise<RefreshFigures> {
  const chainsN = 32;
  const sides: Array<{ side: 'A' | 'B'; root: string }> = [];
  for (let i = 0; i < opts.rounds; i++) {
    if (opts.baseRoot) sides.push({ side: 'A', root: opts.baseRoot });
    sides.push({ side: 'B', root });
  }
  const rounds: RefreshRound[] = [];
  let autovacuum: string | undefined;
  for (const s of sides) {
    await opts.reset();
    const child = spawnNode('cli/src/main.ts', ['start'], env, [], s.root);
    await child.waitFor('gatehouse ready');
    await child.ready(base);
    const api = http(base);
    try {
      const chains: string[] = [];
      let access = '';
      for (let i = 0; i < chainsN; i++) {
        const r = await api.json('POST', '/api/v1/auth/register', { email: `refresh-${i}-${Date.now()}@example.com`, password: 'bench password that is long enough' });
        if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
        chains.push(r.body.refreshToken);
        access = r.body.accessToken;
      }
      // warm-up (JIT, pool connections), then the measured run
      const rotate = async (w: number) => {
        const r = await api.json('POST', '/api/v1/auth/refresh', { refreshToken: chains[w] });
        if (r.status !== 200) return false;
        chains[w] = r.body.refreshToken;
        return true;
      };
      await loop(chainsN, 2, rotate);
      autovacuum = (await vacuumAnalyze(process.env.DATABASE_URL)) ?? autovacuum;
      const result = await loop(chainsN, seconds, rotate);
      // authenticated GET through the gateway, one token (the gateway's verified-token cache)
      const bearer = { authorization: `Bearer ${access}` };
      await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 2 });
      const me = await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds });
      rounds.push({ ...s, result, me });
      console.log(`refresh ${s.side} (${s.root}): ${fmt(result.rps)}/s p50 ${fmt(result.p50, 1)} ms p99 ${fmt(result.p99, 1)} ms, failed ${result.non2xx}; GET /me ${fmt(me.rps)}/s non-2xx ${me.non2xx}`);
    } finally {
      await api.close();
      await child.stop();
    }
  }
  const b = rounds.filter((r) => r.side === 'B').map((r) => r.result.rps);
  const a = rounds.filter((r) => r.side === 'A').map((r) => r.result.rps);
  const medianB = median(b);
  const medianA = a.length ? median(a) : undefined;
  const meA = rounds.filter((r) => r.side === 'A').map((r) => r.me.rps);
  const meB = rounds.filter((r) => r.side === 'B').map((r) => r.me.rps);
  return { rounds, medianA, medianB, ratio: medianA ? medianB / medianA : undefined, chains: chainsN, autovacuum, meMedianA: meA.length ? median(meA) : undefined, meMedianB: median(meB) };
}

export function refreshMarkdown(f: RefreshFigures): string {
  const lines = [
    `Refresh rotations/s, ${f.chains} parallel chains (each worker rotates its own token chain).${f.autovacuum !== undefined ? ` The scratch database is vacuumed and analyzed after the warm-up (the server's autovacuum: ${f.autovacuum}; bench/src/lib.ts, vacuumAnalyze).` : ''}`,
    '',
    '| round | side | checkout | rotations/s | p50 ms | p99 ms | failed | GET /auth/me via gateway /s (32 conns) | me p99 ms |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|',
    ...f.rounds.map((r, i) => `| ${i + 1} | ${r.side} | \`${r.root}\` | ${fmt(r.result.rps)} | ${fmt(r.result.p50, 1)} | ${fmt(r.result.p99, 1)} | ${r.result.non2xx} | ${fmt(r.me.rps)} | ${fmt(r.me.p99)} |`),
    '',
    f.medianA !== undefined ? `Refresh: median A ${fmt(f.medianA)}/s, median B ${fmt(f.medianB)}/s, B/A ${fmt(f.ratio!, 2)}×.` : `Refresh: median ${fmt(f.medianB)}/s.`,
    f.meMedianA !== undefined ? `GET /auth/me: median A ${fmt(f.meMedianA)}/s, median B ${fmt(f.meMedianB)}/s, B/A ${fmt(f.meMedianB / f.meMedianA, 2)}×.` : `GET /auth/me: median ${fmt(f.meMedianB)}/s.`,
    '',
  ];
  return lines.join('\n');
}
