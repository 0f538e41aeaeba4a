/**
 * Enumeration by timing (issue 9, defect 10): the latency of a login for an unknown account
 * against one for a known account with a wrong password, under concurrent load. Both kinds are
 * interleaved in the same run (every worker alternates), so background work affects them alike,
 * and both rotate through pools of the same size (48 real accounts, 48 never-registered
 * addresses), so each throttle counter sees the same traffic and none reaches its lock.
 * Goal: median(unknown) / median(wrong password) within 0.8–1.25 at every load.
 */
import { percentile, type Http } from './lib';

export interface TimingRun {
  concurrency: number;
  unknown: { n: number; p50: number; p90: number };
  wrongPassword: { n: number; p50: number; p90: number };
  /** median unknown / median wrong password */
  ratio: number;
  /** answers other than 401 (each kind), e.g. 429 or 503 */
  other: Record<string, number>;
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90) };
};

/** Runs the comparison at each concurrency for `seconds` each. */
export async function benchLoginTiming(api: Http, known: Array<{ email: string }>, opts: { seconds: number; concurrency: number[] }): Promise<TimingRun[]> {
  const unknownEmails = known.map((_, i) => `nobody-${i}-${Date.now()}@example.com`);
  const runs: TimingRun[] = [];
  let turn = 0;
  for (const concurrency of opts.concurrency) {
    const lat = { unknown: [] as number[], wrong: [] as number[] };
    const other: Record<string, number> = {};
    const end = performance.now() + opts.seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let i = w; performance.now() < end; i++) {
          const kind = i % 2 === 0 ? 'unknown' : 'wrong';
          const k = turn++ % known.length;
          const email = kind === 'unknown' ? unknownEmails[k]! : known[k]!.email;
          const t = performance.now();
          const r = await api.json('POST', '/api/v1/auth/login', { email, password: 'not the password of anyone here' });
          const ms = performance.now() - t;
          if (r.status === 401) lat[kind].push(ms);
          else other[`${kind} ${r.status}`] = (other[`${kind} ${r.status}`] ?? 0) + 1;
        }
      }),
    );
    const unknown = summary(lat.unknown);
    const wrongPassword = summary(lat.wrong);
    const run = { concurrency, unknown, wrongPassword, ratio: unknown.p50 / wrongPassword.p50, other };
    console.log(
      `login timing at ${concurrency} concurrent: unknown p50 ${unknown.p50.toFixed(1)} ms (n=${unknown.n}), wrong password p50 ${wrongPassword.p50.toFixed(1)} ms (n=${wrongPassword.n}), ratio ${run.ratio.toFixed(2)}${Object.keys(other).length ? `, other ${JSON.stringify(other)}` : ''}`,
    );
    runs.push(run);
  }
  return runs;
}

/** Markdown lines for the report. */
export function timingMarkdown(runs: TimingRun[]): string {
  const rows = runs.map(
    (r) =>
      `| ${r.concurrency} | ${r.unknown.p50.toFixed(1)} (${r.unknown.n}) | ${r.wrongPassword.p50.toFixed(1)} (${r.wrongPassword.n}) | ${r.unknown.p90.toFixed(1)} / ${r.wrongPassword.p90.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.ratio >= 0.8 && r.ratio <= 1.25 ? 'yes' : 'no'} | ${Object.keys(r.other).length ? JSON.stringify(r.other) : '–'} |`,
  );
  return `| concurrent logins | unknown account p50 ms (n) | wrong password p50 ms (n) | p90 ms unknown / wrong | ratio | within 0.8–1.25 | other answers |
|---|---|---|---|---|---|---|
${rows.join('\n')}`;
}
