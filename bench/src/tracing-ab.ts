/**
 * Tracing's CPU per authenticated GET, before and after a change, under the same conditions:
 * the bundled system (`cli/dist/main.js start`, after `npm run build` in both checkouts) of
 * this checkout and of BENCH_BASE_ROOT, each with tracing off and on (exporting to a receiver
 * that only counts), all four up at once, driven in turn in short slices (3 s, 32 connections),
 * many rounds, the order reversed every other round; the medians of the server's CPU ms per
 * request. Finer-grained than the tracing bench's 10 s runs one process after another, so
 * load from other jobs falls on every variant alike. Not part of `npm run bench`:
 *
 *   BENCH_BASE_ROOT=/tmp/base DATABASE_URL=postgres://…/gh_x GATEHOUSE_SECRET=… REDIS_URL=… \
 *   NATS_URL=… [BENCH_RATE_LIMITS=on] [BENCH_ROUNDS=8] node --import tsx bench/src/tracing-ab.ts
 *
 * Rate limits are off unless BENCH_RATE_LIMITS=on (then two Redis EVALSHAs per GET).
 * BENCH_NONE=on adds this checkout with no tracing code at all (cli/dist-no-tracing, built
 * here as the tracing bench builds it), for "off within 1% of none" measured the same way.
 * BENCH_AFTER_ENV=NAME=value[,NAME=value] sets variables for this checkout's variants only:
 * with BENCH_BASE_ROOT pointing at this same checkout, an A/B of a setting
 * (`BENCH_AFTER_ENV=OTEL_EXPORTER_OTLP_PROTOCOL=http/json`).
 */
import os from 'node:os';
import { startOtlpReceiver } from '../../test/src/e2e/otlp-receiver';
import { cpuMs } from './cpu';
import { abSystemEnv, deleteStream, fmt, freePort, http, load, root, spawnNode } from './lib';
import { buildNoTracingBundle } from './tracing';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const baseRoot = process.env.BENCH_BASE_ROOT;
if (!baseRoot) throw new Error('BENCH_BASE_ROOT: a built checkout of the code to compare with');
const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
const limit = process.env.BENCH_RATE_LIMITS === 'on' ? '100000000' : '0';
const afterEnv: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_AFTER_ENV ?? '')
    .split(',')
    .filter((x) => x.includes('='))
    .map((x) => [x.slice(0, x.indexOf('=')).trim(), x.slice(x.indexOf('=') + 1).trim()]),
);
const receiver = await startOtlpReceiver({ sink: true });
// BENCH_SAMPLERS: the samplers to run with tracing on, comma-separated, a ratio after a colon
// (`parentbased_always_on,parentbased_traceidratio:0.1`); each is one variant per checkout
const samplers = (process.env.BENCH_SAMPLERS ?? 'parentbased_always_on').split(',').filter((x) => x.trim()).map((x) => {
  const [name, arg] = x.trim().split(':');
  return { name: name!, arg, label: arg ? `${name} ${arg}` : name! };
});
interface Variant { name: string; cwd: string; on: boolean; sampler?: (typeof samplers)[number]; script?: string }
const variants: Variant[] = [
  { name: 'before, off', cwd: baseRoot, on: false },
  ...samplers.map((sampler) => ({ name: `before, on (${sampler.label})`, cwd: baseRoot, on: true, sampler })),
  ...samplers.map((sampler) => ({ name: `after, on (${sampler.label})`, cwd: root, on: true, sampler })),
  { name: 'after, off', cwd: root, on: false },
  ...(process.env.BENCH_NONE === 'on' ? [{ name: 'after, no tracing code', cwd: root, on: false, script: await buildNoTracingBundle() }] : []),
];
const runId = Date.now().toString(36);
const servers: Array<{ name: string; pid: number; base: string; bearer: Record<string, string>; stop: () => Promise<void>; cpu: number[] }> = [];
try {
  for (const [i, v] of variants.entries()) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawnNode(
      v.script ?? 'cli/dist/main.js',
      ['start'],
      {
        ...abSystemEnv(`BENCHAB_${runId}_${i}`, port, limit),
        ...(v.on ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } : {}),
        ...(v.name.startsWith('after') ? afterEnv : {}),
        ...(v.sampler ? { OTEL_TRACES_SAMPLER: v.sampler.name, ...(v.sampler.arg ? { OTEL_TRACES_SAMPLER_ARG: v.sampler.arg } : {}) } : {}),
      },
      [],
      v.cwd,
    );
    const api = http(base);
    const stop = async () => {
      await api.close();
      await child.stop();
    };
    servers.push({ name: v.name, pid: child.proc.pid!, base, bearer: {}, stop, cpu: [] });
    await child.ready(base);
    const reg = await api.json('POST', '/api/v1/auth/register', { email: `bench-ab-${runId}-${i}@example.com`, password: 'bench password that is long enough' });
    if (reg.status !== 201) throw new Error(`register failed: ${reg.status}`);
    servers[i]!.bearer = { authorization: `Bearer ${reg.body.accessToken}` };
    await load({ url: `${base}/api/v1/auth/me`, headers: servers[i]!.bearer, connections: 32, seconds: 2 }); // warm-up
  }
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    loads.push(os.loadavg()[0]!);
    for (const s of r % 2 ? [...servers].reverse() : servers) {
      const before = cpuMs(s.pid);
      const res = await load({ url: `${s.base}/api/v1/auth/me`, headers: s.bearer, connections: 32, seconds: 3 });
      s.cpu.push((cpuMs(s.pid) - before) / Math.max(1, res.requests));
    }
  }
  console.log(`rate limits ${limit === '0' ? 'off' : 'on'}${Object.keys(afterEnv).length ? `; after only: ${Object.entries(afterEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}; 1-minute load average per round: ${loads.map((x) => fmt(x, 1)).join(', ')}`);
  for (const s of servers) console.log(`${s.name.padEnd(48)} median ${fmt(median(s.cpu), 3)} CPU ms/req; per slice ${s.cpu.map((x) => fmt(x, 2)).join(', ')}`);
  const med = new Map(servers.map((s) => [s.name, median(s.cpu)]));
  const bOff = med.get('before, off')!;
  const aOff = med.get('after, off')!;
  for (const sampler of samplers) {
    const bOn = med.get(`before, on (${sampler.label})`)!;
    const aOn = med.get(`after, on (${sampler.label})`)!;
    console.log(`tracing on (${sampler.label}) vs off: before +${fmt(100 * (bOn / bOff - 1), 1)}%, after +${fmt(100 * (aOn / aOff - 1), 1)}%`);
  }
  const none = med.get('after, no tracing code');
  if (none !== undefined) console.log(`tracing off vs no tracing code (after): ${aOff >= none ? '+' : ''}${fmt(100 * (aOff / none - 1), 1)}%`);
} finally {
  for (const s of servers) await s.stop();
  await receiver.close();
  if (process.env.NATS_URL) for (let i = 0; i < servers.length; i++) await deleteStream(process.env.NATS_URL, `BENCHAB_${runId}_${i}`);
}
