/**
 * `node --import tsx bench/src/throttle-commands.ts [BASE_ROOT]` (issue 13): the Redis commands
 * a password login sends, counted with MONITOR. The auth service runs in process (the test
 * harness, so TEST_DATABASE_URL and TEST_REDIS_URL must be set) with a KvStore of its own,
 * named so its connection is found in CLIENT LIST; only that connection's commands are counted
 * (the shared Redis serves others meanwhile), the commands a script runs inside Redis apart.
 * With BASE_ROOT (a checkout of the base with node_modules), the same runs there first: A =
 * base, B = this checkout. BENCH_N logins per outcome (default 50): successes (each user
 * once) and wrong passwords.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { root } from './lib';

const base = process.argv[2] ?? process.env.BENCH_BASE_ROOT;
const N = Number(process.env.BENCH_N ?? 50);
const REDIS_URL = process.env.TEST_REDIS_URL;
if (!REDIS_URL || !process.env.TEST_DATABASE_URL) throw new Error('set TEST_DATABASE_URL and TEST_REDIS_URL');

interface Counted {
  perLogin: number;
  byCommand: Record<string, number>;
  scriptInternal: number;
}

async function measure(checkout: string): Promise<{ success: Counted; failure: Counted }> {
  type Testing = typeof import('../../services/auth/src/testing');
  type Kv = typeof import('../../packages/platform/src/kv');
  const { startAuth, uniqueIp } = (await import(path.join(checkout, 'services/auth/src/testing.ts'))) as Testing;
  const { createKvStore } = (await import(path.join(checkout, 'packages/platform/src/kv.ts'))) as Kv;
  const { testLogger } = (await import(path.join(checkout, 'packages/platform/src/testing.ts'))) as typeof import('../../packages/platform/src/testing');
  const name = `gh-bench-thr-${randomBytes(4).toString('hex')}`;
  const kv = createKvStore({ url: REDIS_URL, keyPrefix: `${name}:`, logger: testLogger, name });
  const h = await startAuth({}, { shared: (s) => ({ ...s, kv }) });
  const admin = new Redis(REDIS_URL!);
  const monitor = await new Redis(REDIS_URL!).monitor();
  try {
    const users: Awaited<ReturnType<typeof h.register>>[] = [];
    for (let i = 0; i < N; i++) users.push(await h.register());
    await h.request('POST', '/api/v1/auth/login', { body: { email: users[0]!.email, password: users[0]!.password } }); // warm-up (loads the scripts)
    const list = String(await admin.client('LIST'));
    const addr = list
      .split('\n')
      .find((l) => l.includes(` name=${name} `))
      ?.match(/ addr=(\S+) /)?.[1];
    if (!addr) throw new Error('the store connection is not in CLIENT LIST');

    let counting = false;
    let lastClient = '';
    const seen: string[] = [];
    let internal = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!counting) return;
      if (source === addr) {
        lastClient = addr;
        seen.push(String(args[0]).toLowerCase());
      } else if (source === 'lua') {
        if (lastClient === addr) internal++;
      } else lastClient = source;
    });
    const settle = () => new Promise((r) => setTimeout(r, 300));

    async function run(kind: 'success' | 'failure'): Promise<Counted> {
      seen.length = 0;
      internal = 0;
      counting = true;
      for (const u of users) {
        const res = await h.request('POST', '/api/v1/auth/login', { ip: uniqueIp(), body: { email: u.email, password: kind === 'success' ? u.password : 'not the password at all' } });
        if (res.statusCode !== (kind === 'success' ? 200 : 401)) throw new Error(`${kind} login: ${res.statusCode} ${res.body}`);
      }
      await settle();
      counting = false;
      const round = (x: number) => Math.round((x / N) * 100) / 100;
      const byCommand: Record<string, number> = {};
      for (const c of new Set(seen)) byCommand[c] = round(seen.filter((x) => x === c).length);
      return { perLogin: round(seen.length), byCommand, scriptInternal: round(internal) };
    }
    return { success: await run('success'), failure: await run('failure') };
  } finally {
    monitor.disconnect();
    // the run's keys (throttle counters expire anyway; nothing is left behind)
    const keys = (await admin.keys(`${name}:*`)) as string[];
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
    await h.close();
    await kv.close();
  }
}

const report: Record<string, unknown> = { date: new Date().toISOString(), n: N };
if (base) report.a = { root: base, ...(await measure(path.resolve(base))) };
report.b = { root, ...(await measure(root)) };
console.log(JSON.stringify(report, null, 2));
process.exit(0);
