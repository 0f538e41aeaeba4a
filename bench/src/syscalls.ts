/**
 * System calls per request of the all-in-one process, counted by `strace -c -f` over a fixed
 * number of requests, for each built checkout given: an exact count where CPU time on a shared
 * 2-core host scatters by ±10% from round to round, for changes whose point is fewer round trips
 * or writes (a tenant transaction's open corked with its statement, a one-statement read
 * committed in the same write). Not part of `npm run bench` (it needs strace, from Debian):
 *
 *   BENCH_ROOTS=/tmp/base,/path/to/this DATABASE_URL=postgres://…/gh_x GATEHOUSE_SECRET=… \
 *   REDIS_URL=… NATS_URL=… [BENCH_PATHS=/api/v1/auth/me,/api/v1/users/me] [BENCH_REQUESTS=3000] \
 *   node --import tsx bench/src/syscalls.ts
 *
 * Each checkout runs `cli/dist/main.js start` (after `npm run build` there) with rate limits
 * off; one registered user's token, 1,000 requests of warm-up, then strace attached while 8
 * connections send BENCH_REQUESTS requests. Prints the calls per request by system call.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { abSystemEnv, deleteStream, fmt, freePort, http, root, spawnNode } from './lib';

const roots = (process.env.BENCH_ROOTS ?? root).split(',').filter(Boolean);
const paths = (process.env.BENCH_PATHS ?? '/api/v1/auth/me').split(',').filter(Boolean);
const requests = Number(process.env.BENCH_REQUESTS ?? 3000);
const runId = Date.now().toString(36);

/** `strace -c` summary rows: syscall name → calls (the total row left out). */
function summary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors,] syscall
    if (f.length < 5 || !/^[\d.]+$/.test(f[0]!) || !/^\d+$/.test(f[3]!)) continue;
    const name = f[f.length - 1]!;
    if (name !== 'total') calls.set(name, Number(f[3]));
  }
  return calls;
}

for (const [i, checkout] of roots.entries()) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnNode(
    'cli/dist/main.js',
    ['start'],
    abSystemEnv(`BENCHSYS_${runId}_${i}`, port),
    [],
    checkout,
  );
  const api = http(base);
  try {
    await child.ready(base);
    const reg = await api.json('POST', '/api/v1/auth/register', { email: `bench-sys-${runId}-${i}@example.com`, password: 'bench password that is long enough' });
    if (reg.status !== 201) throw new Error(`register failed: ${reg.status}`);
    const headers = { authorization: `Bearer ${reg.body.accessToken}` };
    // the registration's fan-out (relay, audit, users replica) settles before counting
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of paths) {
      await autocannon({ url: `${base}${p}`, headers, connections: 8, amount: 1000 });
      const out = path.join(tmpdir(), `gh-syscalls-${runId}-${i}.txt`);
      const strace = spawn('strace', ['-c', '-f', '-o', out, '-p', String(child.proc.pid)], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1000)); // attached to every thread
      const r = await autocannon({ url: `${base}${p}`, headers, connections: 8, amount: requests });
      strace.kill('SIGINT');
      await new Promise((r) => strace.once('exit', r));
      const calls = summary(await readFile(out, 'utf8'));
      await rm(out, { force: true });
      const n = r.requests.total;
      const per = (k: string) => fmt((calls.get(k) ?? 0) / n, 2);
      const total = [...calls.values()].reduce((a, b) => a + b, 0);
      const rest = [...calls].filter(([k]) => !['write', 'writev', 'read', 'epoll_pwait', 'futex'].includes(k)).reduce((a, [, v]) => a + v, 0);
      console.log(
        `${checkout} GET ${p}: ${n} requests (non-2xx ${r.non2xx}); system calls per request ${fmt(total / n, 2)}: ` +
          `write ${per('write')}, writev ${per('writev')}, read ${per('read')}, epoll_pwait ${per('epoll_pwait')}, futex ${per('futex')}, other ${fmt(rest / n, 2)}`,
      );
    }
  } finally {
    await api.close();
    await child.stop();
    if (process.env.NATS_URL) await deleteStream(process.env.NATS_URL, `BENCHSYS_${runId}_${i}`);
  }
}
