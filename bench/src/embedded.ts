/**
 * `BENCH_ONLY=embedded npm run bench`: the embedded mode (`npm start`, no servers) of another
 * checkout and of this one (issue 13 item 3: one shared PGlite, then a lean start), in one
 * run, rounds interleaved. Each variant runs what its own package.json "start" says.
 *
 * "Before" is another checkout of the code (BENCH_EMBEDDED_BASE: a git ref, default the
 * merge base with main), unpacked with `git archive` into a temporary directory whose
 * node_modules links to this one's (the workspace packages to its own sources). Per round
 * and variant: an empty data directory, first start (time until /readyz answers 200, idle
 * RSS), stop; 10,000 users (auth and users tables) and 100,000 audit entries (one hash chain,
 * as the audit service computes it) written into the stopped deployment's tables; restart
 * (time, idle RSS with the data); a mixed load (logins of seeded users, /auth/me, audit pages)
 * with the peak RSS. Seeding goes through the platform's `openServiceDatabase`, which opens
 * the earlier layout (one PGlite per service) as well as the new one.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readlink, rm, symlink } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hash, type Options } from '@node-rs/argon2';
import { pino } from 'pino';
import { loadConfig } from '@gatehouse/platform/config';
import { openServiceDatabase } from '@gatehouse/platform/service';
import { authService } from '@gatehouse/auth';
import { usersService } from '@gatehouse/users';
import { auditService } from '@gatehouse/audit';
import type { DB as AuthDB } from '../../services/auth/src/db/schema';
import type { DB as UsersDB } from '../../services/users/src/db/schema';
import type { DB as AuditDB } from '../../services/audit/src/db/schema';
import { entryHash, GENESIS_HASH } from '../../services/audit/src/modules/chain/chain.hash';
import { fmt, freePort, http, loop, npmStartCommand, root, rssMiB, spawnNode, withPeakRss, type Child, type LoadResult } from './lib';
import { writeDated } from './results';
import { cpuMs, threadCpuMs } from './cpu';

const USERS = Number(process.env.BENCH_EMBEDDED_USERS ?? 10_000);
const ENTRIES = Number(process.env.BENCH_EMBEDDED_ENTRIES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_EMBEDDED_ROUNDS ?? 2);
const DEFAULT_TENANT = '00000000-0000-4000-8000-000000000001';
const PASSWORD = 'bench password that is long enough';
const SECRET = 'bench-secret-bench-secret-bench-secret';
const ADMIN = { email: 'bench-admin@example.com', password: 'bench admin password 2026' };
const IDLE_SETTLE_MS = 5000;

export interface EmbeddedRound {
  variant: string;
  round: number;
  firstStartMs: number;
  idleRssFreshMiB: number;
  seedMs?: number;
  restartMs: number;
  /** CPU of the started process until ready (user + system, every thread), and of its JS thread alone */
  firstStartCpu?: { totalMs: number; mainMs: number };
  restartCpu?: { totalMs: number; mainMs: number };
  /** 1-minute load average as each start began */
  loadAtStart?: { first: number; restart: number };
  idleRssLoadedMiB: number;
  peakRssUnderLoadMiB: number;
  load: { login: LoadResult; me: LoadResult; audit: LoadResult };
  dataDirLayout: string[];
}

export interface EmbeddedFigures {
  users: number;
  entries: number;
  seconds: number;
  baseRef?: string;
  /** per variant: the command `npm start` runs (package.json "start") */
  commands?: Record<string, string>;
  rounds: EmbeddedRound[];
}

/** A checkout of `ref` in a temporary directory, runnable like this one; undefined when it cannot be made. */
async function baselineCheckout(ref: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-bench-base-'));
  execFileSync('sh', ['-c', `git -C "${root}" archive "${ref}" | tar -x -C "${dir}"`]);
  // node_modules: third-party packages shared; the workspace links (@gatehouse/*) relative, so they resolve to the checkout's own sources
  const nm = path.join(dir, 'node_modules');
  await mkdir(path.join(nm, '@gatehouse'), { recursive: true });
  for (const name of await readdir(path.join(root, 'node_modules'))) {
    if (name === '@gatehouse') continue;
    await symlink(path.join(root, 'node_modules', name), path.join(nm, name));
  }
  for (const name of await readdir(path.join(root, 'node_modules', '@gatehouse'))) {
    await symlink(await readlink(path.join(root, 'node_modules', '@gatehouse', name)), path.join(nm, '@gatehouse', name));
  }
  return dir;
}

function env(dataDir: string, port: number): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    GATEHOUSE_SECRET: SECRET,
    PORT: String(port),
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    GRPC_PORT: 'off',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    SHUTDOWN_DRAIN_SEC: '0',
    GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    RATE_LIMIT_IP_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    MAX_IN_FLIGHT_PER_IP: '0',
    THROTTLE_IP_MAX_FAILURES: '100000000',
  };
}

/** Starts `npm start`'s command from `cwd`; resolves when /readyz answers 200, with the wall time since spawn. */
async function startAt(cwd: string, dataDir: string): Promise<{ child: Child; ms: number; base: string; cpu: { totalMs: number; mainMs: number }; load: number }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const cmd = npmStartCommand(cwd);
  const load = os.loadavg()[0]!;
  const t0 = performance.now();
  const child = spawnNode(cmd.script, cmd.args, env(dataDir, port), cmd.nodeArgs, cwd);
  const exited = new Promise<never>((_, reject) => child.proc.once('exit', (code) => reject(new Error(`start exited (${code})\n${child.lines.slice(-20).join('\n')}`))));
  exited.catch(() => {});
  for (;;) {
    const r = await Promise.race([fetch(`${base}/readyz`).catch(() => undefined), exited]);
    if (r?.ok) break;
    if (performance.now() - t0 > 300_000) throw new Error(`not ready after 300 s\n${child.lines.slice(-20).join('\n')}`);
    await sleep(20);
  }
  const ms = performance.now() - t0;
  const pid = child.proc.pid!;
  return { child, ms, base, cpu: { totalMs: cpuMs(pid), mainMs: threadCpuMs(pid).main }, load };
}

/** Writes USERS users (auth + users replica) and ENTRIES audit entries into the stopped deployment in `dataDir`. */
async function seed(dataDir: string): Promise<void> {
  const logger = pino({ level: 'warn' });
  const config = loadConfig({ DATA_DIR: dataDir, GATEHOUSE_SECRET: SECRET, LOG_LEVEL: 'warn' });
  const stored = await hash(PASSWORD, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as unknown as Options);
  const ids = Array.from({ length: USERS }, () => randomUUID());
  const batches = <T>(n: number, size: number, make: (i: number) => T): T[][] => {
    const out: T[][] = [];
    for (let i = 0; i < n; i += size) out.push(Array.from({ length: Math.min(size, n - i) }, (_, j) => make(i + j)));
    return out;
  };
  {
    const { db } = await openServiceDatabase<AuthDB>(config, authService, { logger, migrate: false });
    try {
      for (const rows of batches(USERS, 1000, (i) => ({ id: ids[i]!, tenant_id: DEFAULT_TENANT, email: `seed-${i}@example.com`, password_hash: stored, email_verified_at: new Date() }))) {
        await db.admin.insertInto('users').values(rows).execute();
      }
    } finally {
      await db.close();
    }
  }
  {
    const { db } = await openServiceDatabase<UsersDB>(config, usersService, { logger, migrate: false });
    try {
      for (const rows of batches(USERS, 1000, (i) => ({ id: ids[i]!, tenant_id: DEFAULT_TENANT, email: `seed-${i}@example.com`, display_name: `Seed ${i}`, identity_at: new Date() }))) {
        await db.admin.insertInto('profiles').values(rows).execute();
      }
    } finally {
      await db.close();
    }
  }
  {
    const { db } = await openServiceDatabase<AuditDB>(config, auditService, { logger, migrate: false });
    try {
      const head = await db.admin.selectFrom('entries').select(['seq', 'hash']).where('tenant_id', '=', DEFAULT_TENANT).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      let seq = head ? Number(head.seq) : 0;
      let prev = head?.hash ?? GENESIS_HASH;
      const t0 = Date.now() - ENTRIES * 1000;
      for (let done = 0; done < ENTRIES; done += 1000) {
        const rows = [];
        for (let j = 0; j < Math.min(1000, ENTRIES - done); j++) {
          seq += 1;
          const i = done + j;
          const user = ids[i % USERS]!;
          const fields = {
            seq,
            tenantId: DEFAULT_TENANT,
            type: i % 3 === 0 ? 'user.login.succeeded' : i % 3 === 1 ? 'session.refreshed' : 'user.profile.updated',
            actorId: user,
            subjectId: user,
            ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
            userAgent: 'bench/1.0',
            requestId: randomUUID(),
            data: { method: 'password', n: i },
            occurredAt: new Date(t0 + i * 1000).toISOString(),
            eventId: randomUUID(),
          };
          const h = entryHash(prev, fields);
          rows.push({
            id: randomUUID(),
            tenant_id: DEFAULT_TENANT,
            seq,
            event_id: fields.eventId,
            type: fields.type,
            actor_id: fields.actorId,
            subject_id: fields.subjectId,
            ip: fields.ip,
            user_agent: fields.userAgent,
            request_id: fields.requestId,
            data: JSON.stringify(fields.data),
            occurred_at: fields.occurredAt,
            prev_hash: prev,
            hash: h,
          });
          prev = h;
        }
        await db.admin.insertInto('entries').values(rows).execute();
      }
    } finally {
      await db.close();
    }
  }
}

/** A mixed load for `seconds`: logins of seeded users, /auth/me, the admin's audit pages. */
async function mixedLoad(base: string, seconds: number): Promise<EmbeddedRound['load']> {
  const api = http(base);
  try {
    const admin = await api.json('POST', '/api/v1/auth/login', ADMIN);
    if (admin.status !== 200) throw new Error(`admin login: ${admin.status} ${JSON.stringify(admin.body)}`);
    const bearer = { authorization: `Bearer ${admin.body.accessToken as string}` };
    let n = 0;
    const [login, me, audit] = await Promise.all([
      loop(4, seconds, async () => (await api.json('POST', '/api/v1/auth/login', { email: `seed-${(n++ * 7919) % USERS}@example.com`, password: PASSWORD })).status === 200),
      loop(8, seconds, async () => (await api.json('GET', '/api/v1/auth/me', undefined, bearer)).status === 200),
      loop(4, seconds, async () => (await api.json('GET', `/api/v1/audit/events?limit=50`, undefined, bearer)).status === 200),
    ]);
    return { login, me, audit };
  } finally {
    await api.close();
  }
}

export async function measureEmbedded(seconds: number): Promise<EmbeddedFigures> {
  const ref = process.env.BENCH_EMBEDDED_BASE ?? execFileSync('git', ['-C', root, 'merge-base', 'HEAD', 'main']).toString().trim();
  const variants: Array<{ name: string; cwd: string }> = [];
  const baseDir = ref === 'none' ? undefined : await baselineCheckout(ref);
  if (baseDir) variants.push({ name: `before (${ref.slice(0, 10)})`, cwd: baseDir });
  variants.push({ name: 'after (this checkout)', cwd: root });
  const commands: Record<string, string> = {};
  for (const v of variants) {
    const c = npmStartCommand(v.cwd);
    commands[v.name] = ['node', ...c.nodeArgs, ...(/\.m?js$/.test(c.script) ? [] : ['--import', 'tsx']), c.script, ...c.args].join(' ');
  }
  // a checkout whose `npm start` builds a bundle when it is stale (scripts/start.mjs) builds it
  // now, so the first start below measures a start, not the one-time build
  for (const v of variants) {
    const cmd = npmStartCommand(v.cwd);
    if (cmd.script.endsWith('.mjs')) execFileSync(process.execPath, [...cmd.nodeArgs, cmd.script, '--help'], { cwd: v.cwd, stdio: 'ignore' });
  }
  const templates = new Map<string, string>();
  const rounds: EmbeddedRound[] = [];
  const work = await mkdtemp(path.join(tmpdir(), 'gh-bench-embedded-'));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of variants) {
        const dataDir = path.join(work, `data-${round}-${variants.indexOf(v)}`);
        await mkdir(dataDir);
        const first = await startAt(v.cwd, dataDir);
        await sleep(IDLE_SETTLE_MS);
        const idleRssFreshMiB = rssMiB(first.child.proc.pid!);
        await first.child.stop();
        // seed once per variant; later rounds restart from a copy of the seeded directory
        let seedMs: number | undefined;
        const template = templates.get(v.name);
        if (template) {
          await rm(dataDir, { recursive: true, force: true });
          await cp(template, dataDir, { recursive: true });
        } else {
          const t = performance.now();
          await seed(dataDir);
          seedMs = performance.now() - t;
          const copy = path.join(work, `seeded-${variants.indexOf(v)}`);
          await cp(dataDir, copy, { recursive: true });
          templates.set(v.name, copy);
        }
        const again = await startAt(v.cwd, dataDir);
        try {
          await sleep(IDLE_SETTLE_MS);
          const idleRssLoadedMiB = rssMiB(again.child.proc.pid!);
          const { result, peakMiB } = await withPeakRss(again.child.proc.pid!, () => mixedLoad(again.base, seconds));
          const r: EmbeddedRound = {
            variant: v.name,
            round,
            firstStartMs: first.ms,
            idleRssFreshMiB,
            ...(seedMs !== undefined ? { seedMs } : {}),
            restartMs: again.ms,
            firstStartCpu: first.cpu,
            restartCpu: again.cpu,
            loadAtStart: { first: first.load, restart: again.load },
            idleRssLoadedMiB,
            peakRssUnderLoadMiB: peakMiB,
            load: result,
            dataDirLayout: (await readdir(dataDir)).sort(),
          };
          rounds.push(r);
          console.log(
            `embedded ${v.name} round ${round}: first start ${fmt(r.firstStartMs)} ms, idle ${fmt(idleRssFreshMiB)} MiB; restart (${USERS} users, ${ENTRIES} entries) ${fmt(r.restartMs)} ms, idle ${fmt(idleRssLoadedMiB)} MiB, under load ${fmt(peakMiB)} MiB (login ${fmt(result.login.rps)}/s, me ${fmt(result.me.rps)}/s, audit ${fmt(result.audit.rps)}/s)`,
          );
        } finally {
          await again.child.stop();
        }
        await rm(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  }
  return { users: USERS, entries: ENTRIES, seconds, ...(baseDir ? { baseRef: ref } : {}), commands, rounds };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

/** The report's table: medians per variant, then every round. */
export function embeddedMarkdown(f: EmbeddedFigures): string {
  const names = [...new Set(f.rounds.map((r) => r.variant))];
  const rows = names.map((n) => {
    const rs = f.rounds.filter((r) => r.variant === n);
    const m = (g: (r: EmbeddedRound) => number, d = 0) => fmt(median(rs.map(g)), d);
    const cpu = (g: (r: EmbeddedRound) => { totalMs: number; mainMs: number } | undefined) =>
      rs.every((r) => g(r)) ? ` (CPU ${m((r) => g(r)!.totalMs / 1000, 2)} s, JS thread ${m((r) => g(r)!.mainMs / 1000, 2)} s)` : '';
    return `| ${n} | ${m((r) => r.firstStartMs / 1000, 2)} s${cpu((r) => r.firstStartCpu)} | ${m((r) => r.restartMs / 1000, 2)} s${cpu((r) => r.restartCpu)} | ${m((r) => r.idleRssFreshMiB)} MiB | ${m((r) => r.idleRssLoadedMiB)} MiB | ${m((r) => r.peakRssUnderLoadMiB)} MiB | ${m((r) => r.load.login.rps)} / ${m((r) => r.load.me.rps)} / ${m((r) => r.load.audit.rps)} |`;
  });
  const each = f.rounds.map(
    (r) =>
      `| ${r.round} | ${r.variant} | ${fmt(r.firstStartMs)} ms${r.firstStartCpu ? ` (CPU ${fmt(r.firstStartCpu.totalMs)})` : ''} | ${fmt(r.restartMs)} ms${r.restartCpu ? ` (CPU ${fmt(r.restartCpu.totalMs)})` : ''} | ${r.loadAtStart ? `${r.loadAtStart.first.toFixed(1)} / ${r.loadAtStart.restart.toFixed(1)}` : ''} | ${fmt(r.idleRssFreshMiB)} | ${fmt(r.idleRssLoadedMiB)} | ${fmt(r.peakRssUnderLoadMiB)} | ${r.seedMs !== undefined ? `${fmt(r.seedMs / 1000, 1)} s` : 'copy'} | ${r.dataDirLayout.join(', ')} |`,
  );
  return `## Embedded mode, before and after (issue 13 item 3)

Medians of ${Math.max(...names.map((n) => f.rounds.filter((r) => r.variant === n).length))} interleaved rounds. Data loaded before the restart: ${f.users.toLocaleString('en-US')} users (auth + users replica), ${f.entries.toLocaleString('en-US')} audit entries in one hash chain. Ready = \`/readyz\` answers 200, wall time from spawning what \`npm start\` runs in that checkout (its package.json "start", without npm: ${Object.entries(f.commands ?? {}).map(([v, c]) => `${v}: \`${c}\``).join('; ')}; a bundle the command builds when stale was built before; a new DATA_DIR is copied from the initdb template when the variant has one); CPU: user + system of that process until ready, every thread, and of its JS thread alone (/proc). Idle RSS ${IDLE_SETTLE_MS / 1000} s after ready; under load: peak RSS sampled every 250 ms during ${f.seconds} s of 4 login + 8 \`/auth/me\` + 4 \`/audit/events\` loops. Goals: idle ≤ 250 MB, under load ≤ 400 MB, first start ≤ 3 s, restart ≤ 1.5 s.

| variant | first start | restart (data loaded) | idle RSS, empty | idle RSS, data loaded | RSS under load | login / me / audit per s |
|---|---|---|---|---|---|---|
${rows.join('\n')}

| round | variant | first start (CPU ms) | restart (CPU ms) | load 1 min at each start | idle empty MiB | idle loaded MiB | under load MiB | seeding | DATA_DIR |
|---|---|---|---|---|---|---|---|---|---|
${each.join('\n')}
`;
}

/** `BENCH_ONLY=embedded`: measures and writes `<day>-embedded-pglite.{json,md}` under bench/results/. */
export async function benchEmbeddedOnly(report: Record<string, unknown>, seconds: number): Promise<void> {
  const loadBefore = os.loadavg();
  const figures = await measureEmbedded(seconds);
  const loadAfter = os.loadavg();
  const out = { ...report, mode: 'embedded', load: loadBefore, loadAfter, embedded: figures };
  const m = report.machine as { cpus: number; cpu: string; memoryGiB: number; os: string; node: string };
  const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
  const head = `# Embedded mode ${String(report.date).slice(0, 10)}\n\nMachine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load generator on the same cores, over loopback; shared with other jobs (load average 1/5/15 min before ${la(loadBefore)}, after ${la(loadAfter)}). Rate limits off (RATE_LIMIT_*_MAX=0, MAX_IN_FLIGHT_PER_IP=0). \`BENCH_ONLY=embedded npm run bench\`.\n\n`;
  // <day>-embedded-pglite, a second run of the day -runN
  await writeDated(out, 'pglite', head + embeddedMarkdown(figures));
}
