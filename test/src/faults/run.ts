/**
 * Fault suite (`npm run faults`; .ci/run runs it): a cluster of separate processes (two
 * replicas of every service behind the shipped nginx, on a PostgreSQL, Redis and NATS of its
 * own; see cluster.ts) under a steady mixed load (load.ts), then one fault at a time:
 *
 *   kill -9 one replica of each service · a rolling restart (a new process beside each, then
 *   SIGTERM to the old) · Redis restarted ·
 *   NATS stopped for 30 s · PostgreSQL restarted
 *
 * For each: requests sent and failed (by operation and status), acknowledged writes missing
 * afterwards (profile updates, check-ins, social-log entries, looked up in the databases),
 * events produced (every service's outbox) but missing from the audit trail, time to
 * recover, and processes that exited on their own. Writes bench/results/faults.md (and .json).
 * Exits 1 when an acknowledged write or an event was lost or a process died on its own (the
 * goals that are about correctness), or when the rolling restart failed a request with the
 * accept-queue hand-over on. The others (failures per kill) are reported as met or not.
 *
 *   npm run faults [-- --nats-down-sec=30 --members=6 --only=pg,redis]
 */
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { api, PASSWORD, ROOT } from '../deploy/support';
import { parseAccessLog, type AccessLogEntry } from '../deploy/nginx-site';
import { ADMIN, SERVICES, startCluster, type Cluster, type Replica } from './cluster';
import { startLoad, type Member, type Sample } from './load';

const { values: args } = parseArgs({
  options: {
    'nats-down-sec': { type: 'string', default: '30' },
    'redis-down-sec': { type: 'string', default: '8' },
    members: { type: 'string', default: '6' },
    'steady-sec': { type: 'string', default: '4' },
    // a subset, e.g. --only=pg,redis (steady, kill, rolling, redis, nats, pg)
    only: { type: 'string', default: 'steady,kill,rolling,redis,nats,pg' },
  },
});
const NATS_DOWN_MS = Number(args['nats-down-sec']) * 1000;
const REDIS_DOWN_MS = Number(args['redis-down-sec']) * 1000;
const STEADY_MS = Number(args['steady-sec']) * 1000;
const HOST = 'gatehouse.test';
const ONLY = new Set(args.only.split(','));
const want = (key: string) => ONLY.has(key);
const t0 = Date.now();
const log = (line: string) => console.log(`[faults +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}`);

interface Phase {
  name: string;
  goal: string;
  start: number;
  faultAt: number;
  end: number;
  /** requests the killed replica was handling when it was killed (its own in-flight gauge) */
  inFlightAtFault?: number;
  /** the killed replica's address as nginx names it (`127.0.0.1:port`) */
  victim?: string;
  /** when the killed process was gone (its exit seen here; its sockets close before that) */
  goneAt?: number;
  /** when its replacement (same address) was ready */
  backAt?: number;
  notes: string[];
}

/**
 * From nginx's access log: the requests in flight on the killed replica `victim`, i.e. those
 * nginx had sent to it (a connection to it was made or reused: a refused connect sent nothing
 * and is resent elsewhere) that had not ended at the kill (`at`) and began before its exit was
 * seen (`gone`). That counts the requests it was handling at the kill and those its dying
 * process still took: after SIGKILL the kernel tears the process down (its memory first, its
 * sockets last), and until its sockets close its listening socket still completes connections,
 * so a request nginx sends then is sent (on a loaded machine for up to a few hundred ms).
 * Exact where the gauge is sampled: every request through nginx is in the log.
 */
function inFlightFromLog(entries: AccessLogEntry[], victim: string, at: number, gone: number, back: number) {
  const sentTo = (e: AccessLogEntry) => e.upstreams.some((u, i) => u === victim && e.upstreamConnected[i]);
  const on = entries.filter((e) => sentTo(e) && e.startMs <= gone && e.endMs >= at);
  const fmtEntry = (e: AccessLogEntry) => `${e.method} ${e.uri} ${e.status} at +${e.startMs - at} ms`;
  return {
    inFlight: on.length,
    failed: on.filter((e) => e.status >= 500).length,
    /** of those, begun after the kill signal: taken by the dying process */
    takenWhileDying: on.filter((e) => e.startMs > at).map(fmtEntry),
    /** errors on it begun after its exit was seen, before its replacement was ready: none can be sent to it then (the race issue 14 closed) */
    afterGone: entries.filter((e) => e.upstreams.includes(victim) && e.startMs > gone && e.startMs < back && e.status >= 500).map(fmtEntry),
  };
}

/**
 * nginx's error-log lines about `victim` within [from, to] (the log has whole seconds), counted
 * by what failed and the request's method: `connect() failed (111: Connection refused)` is a
 * request nothing was sent of (resent elsewhere, any method); a reset or premature close after
 * a connection was made is one nginx had sent.
 */
function nginxErrors(text: string, victim: string, from: number, to: number): string[] {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.includes(`upstream: "http://${victim}/`)) continue;
    const at = new Date(line.slice(0, 19).replaceAll('/', '-').replace(' ', 'T')).getTime();
    if (!(at >= Math.floor(from / 1000) * 1000 && at <= to)) continue;
    const what = /\*\d+ (.*?)(?:, client:|$)/.exec(line)?.[1] ?? line;
    const method = /request: "(\S+)/.exec(line)?.[1] ?? '?';
    const key = `${what} (${method})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n}× ${k}`);
}

/** The requests nginx answered with an error within [from, to]: method, path, status, each server tried and its answer. */
function nginxAnswered(entries: AccessLogEntry[], from: number, to: number): string {
  const errors = entries.filter((e) => e.startMs >= from && e.startMs <= to && e.status >= 500);
  const tried = (e: AccessLogEntry) => e.upstreams.map((u, i) => `${u.split(':').pop()} ${e.upstreamStatuses[i] ?? '?'}${e.upstreamConnected[i] ? '' : ' refused'}`).join(' → ');
  return errors.map((e) => `${e.method} ${e.uri.replace(/[0-9a-f-]{36}/g, ':id')} ${e.status} (${tried(e) || 'no upstream'})`).join(', ') || 'none';
}

/** net.ipv4.tcp_migrate_req in this network namespace ('1': on) */
function migrateReq(): string {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1' ? 'on' : 'off';
  } catch {
    return 'unknown';
  }
}

/**
 * As root with `unshare` (util-linux) and `ip` (iproute2), the suite runs itself again in a
 * network namespace of its own: its own loopback, where it sets net.ipv4.tcp_migrate_req=1 for
 * the rolling restart without touching the host's setting. Every process it starts (its
 * PostgreSQL, Redis, NATS, nginx, the replicas) lives there too. Elsewhere it runs here, and
 * the rolling restart says the hand-over is off.
 */
function inOwnNetworkNamespace(): void {
  if (process.env.GH_FAULTS_NETNS === '1' || process.getuid?.() !== 0) return;
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!has('unshare') || !has('ip') || spawnSync('unshare', ['--net', 'true']).status !== 0) return;
  const script = 'ip link set lo up && (sysctl -qw net.ipv4.tcp_migrate_req=1 || true) && exec "$@"';
  const r = spawnSync('unshare', ['--net', '--', 'sh', '-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GH_FAULTS_NETNS: '1' },
  });
  if (r.error) return; // unshare could not run: go on in this namespace
  process.exit(r.status ?? 1);
}

async function main() {
  inOwnNetworkNamespace();
  log(`network namespace: ${process.env.GH_FAULTS_NETNS === '1' ? 'its own' : "the host's"}; accept-queue hand-over: ${migrateReq()}`);
  log('building the bundles (node scripts/build.mjs)');
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
  const cluster = await startCluster(log);
  let exitCode: number;
  try {
    exitCode = await runSuite(cluster);
  } finally {
    await cluster.close();
  }
  process.exit(exitCode);
}

async function setup(c: Cluster) {
  const headers = { host: HOST };
  const admin = await api(c.base, 'POST', '/api/v1/auth/login', { body: ADMIN, headers });
  if (admin.status !== 200) throw new Error(`superadmin login: ${admin.status} ${JSON.stringify(admin.body)}`);
  const register = async (email: string): Promise<Member> => {
    const r = await api(c.base, 'POST', '/api/v1/auth/register', { body: { email, password: PASSWORD }, headers });
    if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return { email, password: PASSWORD, userId: r.body.user.id };
  };
  const organizer = await register('organizer@faults.test');
  const promote = await api(c.base, 'PATCH', `/api/v1/admin/users/${organizer.userId}`, { token: admin.body.accessToken, body: { roles: ['user', 'organizer'] }, headers });
  if (promote.status !== 200) throw new Error(`promote organizer: ${promote.status} ${JSON.stringify(promote.body)}`);
  const orgLogin = await api(c.base, 'POST', '/api/v1/auth/login', { body: { email: organizer.email, password: PASSWORD }, headers });
  const orgToken = orgLogin.body.accessToken as string;
  const events: string[] = [];
  for (let i = 0; i < 40; i++) {
    const e = await api(c.base, 'POST', '/api/v1/events', {
      token: orgToken,
      headers,
      body: { title: `Fault drill ${i}`, startsAt: new Date(Date.now() - 10 * 60_000).toISOString(), endsAt: new Date(Date.now() + 6 * 3600_000).toISOString(), lateAfterMinutes: 600 },
    });
    if (e.status !== 201) throw new Error(`create event: ${e.status} ${JSON.stringify(e.body)}`);
    events.push(e.body.id);
  }
  const members: Member[] = [];
  for (let i = 0; i < Number(args.members); i++) members.push(await register(`member${i}@faults.test`));
  return { orgToken, events, members };
}

async function runSuite(c: Cluster): Promise<number> {
  const { orgToken, events, members } = await setup(c);
  log(`setup: ${members.length} members, ${events.length} events, organizer`);
  const load = startLoad({ base: c.base, host: HOST, members, organizerToken: () => orgToken, events, thinkMs: 250 });
  const phases: Phase[] = [];
  const phase = async (name: string, goal: string, fault: (p: Phase) => Promise<void>) => {
    const p: Phase = { name, goal, start: Date.now(), faultAt: Date.now(), end: 0, notes: [] };
    load.setPhase(name);
    log(`${name}: start`);
    await fault(p);
    await sleep(STEADY_MS); // steady load after recovery, counted in the phase
    p.end = Date.now();
    const died = c.takeUnexpectedExits();
    if (died.length) {
      p.notes.push(...died.map((d) => `DIED: ${d}`));
      await c.ensureUp(); // so the next phase starts with every replica
    }
    phases.push(p);
    log(`${name}: done`);
  };
  // a replica that died on its own is restarted (and reported) rather than waited for
  const waitReadyAll = () => c.ensureUp();


  await sleep(STEADY_MS);
  if (want('steady')) await phase('steady load (no fault)', 'no failed request', async () => {
    await sleep(STEADY_MS);
  });
  /** requests the replica is handling now, from its own gauge (gatehouse_http_requests_in_flight) */
  const inFlightOn = async (r: Replica): Promise<number | undefined> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      const line = text.split('\n').find((l) => l.startsWith(`gatehouse_http_requests_in_flight{service="${r.service}"}`));
      return line ? Number(line.split(' ').pop()) : undefined;
    } catch {
      return undefined;
    }
  };
  for (const s of want('kill') ? SERVICES : []) {
    const victim = c.replicas.find((r) => r.service === s && r.index === 0)!;
    await phase(`kill -9 ${s} replica`, 'failures <= requests in flight on that replica', async (p) => {
      // read from the victim itself, over and over during the second before the kill: a scrape
      // reads the gauge when it starts and answers when the slowest collector is done, so one
      // reading can be tens of ms old at the kill; the most seen is what the kill can cut at most
      const readings: number[] = [];
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        const n = await inFlightOn(victim);
        if (n !== undefined) readings.push(n);
      }
      p.inFlightAtFault = readings.length ? Math.max(...readings) : undefined;
      p.notes.push(`in flight on it during the last second: ${readings.length} readings, last ${readings.at(-1) ?? '?'}, most ${p.inFlightAtFault ?? '?'}`);
      p.victim = `127.0.0.1:${victim.port}`;
      p.faultAt = Date.now();
      victim.stopping = true;
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      p.goneAt = Date.now();
      await c.startReplica(victim);
      await c.waitReady(victim);
      p.backAt = Date.now();
    });
  }
  // The procedure without an orchestrator (docs/operations.md), no nginx reload: one replica at
  // a time, a new process listens on the same port beside the old one (LISTEN_REUSE_PORT), then
  // the old one gets SIGTERM: it keeps answering for SHUTDOWN_DRAIN_SEC with readiness 503 and
  // `Connection: close`, closes its listener (the connections waiting in its accept queue move
  // to the new process: net.ipv4.tcp_migrate_req, set in the suite's network namespace) and
  // finishes its requests. Stopping the old one first and then starting the new one loses the
  // requests whose connections wait in the accept queue when the listener closes (reset; nginx
  // cannot resend a POST it wrote): 1 in ~6,400 on a quiet machine, 17 in 4,060 at load ~12.
  if (want('rolling')) await phase('rolling restart (new process beside the old, SIGTERM, drain; one replica at a time)', '0 failed requests', async (p) => {
    p.faultAt = Date.now();
    p.notes.push(`accept-queue hand-over (net.ipv4.tcp_migrate_req): ${migrateReq()}`);
    for (const s of SERVICES) for (const r of c.replicas.filter((x) => x.service === s)) await c.replaceReplica(r);
  });
  if (want('redis')) await phase(`Redis down ${REDIS_DOWN_MS / 1000} s, restarted`, 'credential endpoints 503 while down; recover without a restart', async (p) => {
    p.faultAt = Date.now();
    await c.redis.stop();
    await sleep(REDIS_DOWN_MS);
    p.notes.push(`Redis back at +${((Date.now() - p.faultAt) / 1000).toFixed(1)} s`);
    await c.redis.start();
    await waitReadyAll();
  });
  if (want('nats')) await phase(`NATS stopped ${NATS_DOWN_MS / 1000} s`, 'no failed request, no event lost', async (p) => {
    p.faultAt = Date.now();
    await c.nats.stop();
    await sleep(NATS_DOWN_MS);
    p.notes.push(`NATS back at +${((Date.now() - p.faultAt) / 1000).toFixed(1)} s`);
    await c.nats.start();
    await waitReadyAll();
  });
  if (want('pg')) await phase('PostgreSQL restarted (fast shutdown)', 'recover without a restart, no acknowledged write lost', async (p) => {
    p.faultAt = Date.now();
    await c.pg.stop();
    await sleep(2000);
    await c.pg.start();
    p.notes.push(`PostgreSQL back at +${((Date.now() - p.faultAt) / 1000).toFixed(1)} s`);
    await waitReadyAll();
  });
  load.setPhase('cool-down');
  await load.stop();
  log(`load stopped: ${load.samples.length} requests`);

  // ---- what was kept --------------------------------------------------------------------------
  const produced = async () =>
    c.query<{ id: string; subject: string; created_at: Date; published_at: Date | null }>(
      `select id::text, subject, created_at, published_at from auth.outbox
       union all select id::text, subject, created_at, published_at from users.outbox
       union all select id::text, subject, created_at, published_at from audit.outbox`,
    );
  let missing: Array<{ id: string; subject: string; created_at: Date; published_at: Date | null }> = [];
  const settleStart = Date.now();
  for (;;) {
    const audited = new Set(
      (await c.query<{ event_id: string }>('select event_id from audit.entries union select event_id from audit.dead_letters where event_id is not null')).map((r) => r.event_id),
    );
    missing = (await produced()).filter((e) => !audited.has(e.id));
    if (missing.length === 0 || Date.now() - settleStart > 90_000) break;
    await sleep(1000);
  }
  log(`events: settled after ${((Date.now() - settleStart) / 1000).toFixed(1)} s, ${missing.length} missing from the audit trail`);
  const allProduced = await produced();

  const profiles = new Map((await c.query<{ id: string; display_name: string | null }>('select id::text, display_name from users.profiles')).map((r) => [r.id, r.display_name]));
  const attendance = new Set((await c.query<{ k: string }>("select event_id::text || '/' || user_id::text as k from users.attendance")).map((r) => r.k));
  const socialIds = load.acked.social.map((s) => s.id);
  const socialKept = new Set((await c.query<{ id: string }>('select id::text from audit.entries where id::text = any($1)', [socialIds])).map((r) => r.id));

  const lostWrites: Array<{ phase: string; what: string }> = [];
  for (const [userId, history] of load.acked.profile) {
    const lastAcked = history.map((h) => h.acked).lastIndexOf(true);
    if (lastAcked < 0) continue;
    const allowed = new Set(history.slice(lastAcked).map((h) => h.value)); // a later unacknowledged attempt may have landed
    const final = profiles.get(userId) ?? null;
    if (!final || !allowed.has(final)) lostWrites.push({ phase: history[lastAcked]!.phase, what: `profile of ${userId}: acknowledged "${history[lastAcked]!.value}", found "${final}"` });
  }
  for (const ci of load.acked.checkins) if (!attendance.has(`${ci.eventId}/${ci.userId}`)) lostWrites.push({ phase: ci.phase, what: `check-in ${ci.userId} at ${ci.eventId}` });
  for (const s of load.acked.social) if (!socialKept.has(s.id)) lostWrites.push({ phase: s.phase, what: `social entry ${s.id}` });

  // ---- report ---------------------------------------------------------------------------------
  const accessLog = c.nginx.accessLogPath ? parseAccessLog(readFileSync(c.nginx.accessLogPath, 'utf8')) : [];
  const errorLog = readFileSync(path.join(c.nginx.dir, 'error.log'), 'utf8');
  const rows = phases.map((p) => {
    const logged = p.victim ? inFlightFromLog(accessLog, p.victim, p.faultAt, p.goneAt ?? p.faultAt, p.backAt ?? p.end) : undefined;
    const ss = load.samples.filter((s) => s.phase === p.name);
    const failed = ss.filter((s) => !s.ok);
    const byKind = new Map<string, number>();
    for (const f of failed) {
      const k = `${f.op} ${f.status || 'conn'}${f.code ? ` ${f.code}` : ''}`;
      byKind.set(k, (byKind.get(k) ?? 0) + 1);
    }
    const lastFailure = failed.reduce((m, s) => Math.max(m, s.end), 0);
    const recoverMs = failed.length ? Math.max(0, lastFailure - p.faultAt) : 0;
    const eventsMissing = missing.filter((e) => e.created_at.getTime() >= p.start && e.created_at.getTime() <= p.end).length;
    const eventsProduced = allProduced.filter((e) => e.created_at.getTime() >= p.start && e.created_at.getTime() <= p.end).length;
    const writesLost = lostWrites.filter((w) => w.phase === p.name).length;
    const acks = load.acked.checkins.filter((x) => x.phase === p.name).length + load.acked.social.filter((x) => x.phase === p.name).length +
      [...load.acked.profile.values()].flat().filter((h) => h.phase === p.name && h.acked).length;
    return {
      phase: p.name,
      goal: p.goal,
      sent: ss.length,
      failed: failed.length,
      failures: [...byKind].map(([k, n]) => `${n}× ${k}`).join(', '),
      acknowledgedWrites: acks,
      writesLost,
      eventsProduced,
      eventsMissing,
      recoverSec: Number((recoverMs / 1000).toFixed(1)),
      inFlightAtFault: logged?.inFlight,
      goalMet: logged ? failed.length <= logged.inFlight : undefined,
      notes: [
        ...(logged
          ? [
              `its exit seen +${(p.goneAt ?? p.faultAt) - p.faultAt} ms after the kill`,
              `nginx log: ${logged.inFlight} in flight on it, ${logged.failed} of them answered with an error; ${logged.takenWhileDying.length} of them taken while it was dying${logged.takenWhileDying.length ? ` (${logged.takenWhileDying.join(', ')})` : ''}`,
              `errors on it begun after its exit, before its replacement was ready: ${logged.afterGone.length ? logged.afterGone.join(', ') : 'none'}`,
            ]
          : []),
        ...(p.victim ? [`nginx errors on it: ${nginxErrors(errorLog, p.victim, p.faultAt, (p.goneAt ?? p.faultAt) + 2000).join(', ') || 'none'}`] : []),
        ...(failed.length > 0 && failed.length <= 10 ? [`nginx answered with an error: ${nginxAnswered(accessLog, p.start, p.end)}`] : []),
        ...p.notes,
      ].join('; '),
    };
  });
  const lostTotal = lostWrites.length;
  const missingTotal = missing.length;
  const died = phases.flatMap((p) => p.notes.filter((n) => n.startsWith('DIED')));
  const md = [
    '# Fault suite results',
    '',
    `Run ${new Date().toISOString()} by \`npm run faults\` (test/src/faults): two replicas of each service (separate`,
    `processes from the built bundles) behind the shipped nginx site, on a PostgreSQL 15, Redis and NATS JetStream of`,
    `the suite's own; ${members.length} load workers (one request at a time each: login, me, refresh, profile update,`,
    `QR token + check-in, social-log entry; ${250} ms pause per round). Machine: ${process.platform} ${process.arch}, node ${process.version}.`,
    '',
    '"failed": a request whose answer was not the expected success (status 0 = connection error or 15 s timeout).',
    '"recover": from the fault to the end of the last failed request of the phase. Events are counted from every',
    "service's outbox (by creation time within the phase) and looked up in the audit trail (entries and dead letters)",
    'after the load stopped and the relays settled. Acknowledged writes are looked up in the databases.',
    '"in flight on the killed replica": from nginx\'s access log, the requests nginx had sent to that replica (a connection',
    'to it made or reused; a refused connect sent nothing and is resent to the other replica) that had not ended at the',
    'kill and began before its exit was seen: those it was handling at the kill and those its dying process still took',
    '(after SIGKILL the kernel frees the memory first and closes the sockets last; until then its listening socket still',
    'completes connections: "taken while it was dying" in the notes). Every request through nginx is logged; the',
    'replica\'s own gatehouse_http_requests_in_flight gauge, sampled during the second before the kill, is in the notes.',
    '"goal": failed <= in flight on the killed replica. "errors on it begun after its exit": none can be sent to it then.',
    '',
    '| phase | sent | failed | failures | acked writes | writes lost | events produced | events missing | recover (s) | in flight on the killed replica | goal | notes |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.phase} | ${r.sent} | ${r.failed} | ${r.failures || '–'} | ${r.acknowledgedWrites} | ${r.writesLost} | ${r.eventsProduced} | ${r.eventsMissing} | ${r.recoverSec} | ${r.inFlightAtFault ?? '–'} | ${r.goalMet === undefined ? '–' : r.goalMet ? 'met' : 'missed'} | ${r.notes || ''} |`),
    '',
    `Totals: ${load.samples.length} requests, ${load.samples.filter((s) => !s.ok).length} failed; acknowledged writes lost: ${lostTotal}; events missing from the audit trail: ${missingTotal} of ${allProduced.length}; processes that exited on their own: ${died.length ? died.join('; ') : 'none'}.`,
    '',
    ...(lostWrites.length ? ['Lost writes:', ...lostWrites.slice(0, 20).map((w) => `- ${w.phase}: ${w.what}`), ''] : []),
    ...(missing.length ? ['Missing events:', ...missing.slice(0, 20).map((e) => `- ${e.subject} ${e.id} created ${e.created_at.toISOString()} published ${e.published_at?.toISOString() ?? 'never'}`), ''] : []),
  ].join('\n');
  const outDir = path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'faults.md'), `${md}\n`);
  writeFileSync(path.join(outDir, 'faults.json'), `${JSON.stringify({ at: new Date().toISOString(), rows, lostWrites, missing: missing.length }, null, 2)}\n`);
  console.log(md);
  const failedSamples: Sample[] = load.samples.filter((s) => !s.ok && s.phase === 'warm-up');
  if (failedSamples.length) log(`warm-up failures: ${failedSamples.length}`);
  // the rolling restart's goal (0 failed requests) is enforced where the accept-queue hand-over
  // is on (the suite's own network namespace); elsewhere its figure is reported only
  const rolling = rows.find((r) => r.phase.startsWith('rolling restart'));
  const rollingMissed = migrateReq() === 'on' && rolling !== undefined && rolling.failed > 0;
  if (rollingMissed) log(`rolling restart: ${rolling.failed} failed requests (goal 0)`);
  return lostTotal > 0 || missingTotal > 0 || died.length > 0 || rollingMissed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(`faults: ${(err as Error).stack ?? String(err)}`);
  process.exit(2);
});
