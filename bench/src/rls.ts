/**
 * The cost of row-level security per transaction (issue 13): the same primary-key read, each in
 * its own transaction, (a) through `withTenant` (its open + `app.tenant_id` + the
 * tenant_isolation policy) and (b) as the owner with an explicit `tenant_id` filter.
 *
 * The read, two ways, both measured: `named` as production's hot reads run (`preparedQuery`,
 * compiled once, a named prepared statement per connection whose generic plan PostgreSQL
 * keeps: the figure of issue 13), and `unnamed` (a Kysely builder compiled at every call and
 * sent unnamed, so parsed and planned, the policy with it, at every execution). The run
 * reads each side's pg_prepared_statements at the end: how often the named reads used the
 * generic plan.
 *
 * `measureRls` (the full `npm run bench`) measures this checkout. `BENCH_ONLY=rls` with
 * BENCH_BASE_ROOT set to another checkout (e.g. main) loads that checkout's `db.ts` too, so the
 * same run alternates A (base) and B (this checkout) round by round, each with its own schema
 * created by its own `rlsSql` (the policy form of its migrations) and its own pool; the figures
 * are per round and their medians. CPU counts both ends: this process (`process.cpuUsage`) and
 * the PostgreSQL backends of the side's pool (/proc/<pid>/schedstat, nanoseconds), found by an
 * application_name of their own, so other sessions of the database do not count.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import type { PlatformTables } from '@gatehouse/platform/schema';
import type * as PlatformDb from '@gatehouse/platform/db';
import type * as PlatformPrepared from '@gatehouse/platform/prepared';
import { fmt, root } from './lib';

const logger = pino({ level: 'silent' });

/** The benchmark's one table, beside the platform's. */
interface BenchDB extends PlatformTables {
  items: { id: string; tenant_id: string; body: string };
}

type DbModule = Pick<typeof PlatformDb, 'createDatabase' | 'rlsSql'>;
type PreparedModule = Pick<typeof PlatformPrepared, 'preparedQuery'>;
type Side = 'A' | 'B';
/** how the read is sent: see the head of this file */
export type RlsRead = 'named' | 'unnamed';
const READS: RlsRead[] = ['named', 'unnamed'];

export interface RlsPhase { side: Side; read: RlsRead; kind: 'tenant' | 'owner'; round: number; wallUsPerTx: number; cpuUsPerTx: number; clientUsPerTx: number; serverUsPerTx: number }
export interface RlsSideFigures {
  root: string;
  commit?: string;
  policy: string;
  /** medians over the rounds */
  tenantPerSec: number;
  ownerPerSec: number;
  cpuUsPerTx: { tenant: number; owner: number; tenantClient: number; ownerClient: number; tenantServer: number; ownerServer: number };
  /** median over the rounds of each round's (tenant / owner − 1), in % */
  wallCostPct: number;
  cpuCostPct: number;
  /** the same for each end alone: this process, the backends */
  clientCostPct: number;
  serverCostPct: number;
  /** named reads only: executions by the generic and by custom plans, per connection at the end (PostgreSQL 14+) */
  plans?: { tenant: { generic: number; custom: number }[]; owner: { generic: number; custom: number }[] };
}
export interface RlsFigures {
  kind: 'postgres' | 'pglite';
  txPerPhase: number;
  rounds: number;
  /** per side, per way of sending the read */
  sides: Partial<Record<Side, Partial<Record<RlsRead, RlsSideFigures>>>>;
  phases: RlsPhase[];
  load: number[];
  loadAfter: number[];
  method: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Nanoseconds a process (every thread) has run: /proc/<pid>/schedstat, first field. */
function runNs(pid: number): number {
  try {
    // the backend may have ended (pool idle timeout): it then counts nothing more
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

async function loadSide(side: Side, checkout: string): Promise<{ mod: DbModule; prep: PreparedModule; commit?: string }> {
  const mod = (await import(path.join(checkout, 'packages/platform/src/db.ts'))) as DbModule;
  // the checkout's own prepared.ts: its statement names are what that checkout's pool looks up
  const prep = (await import(path.join(checkout, 'packages/platform/src/prepared.ts'))) as PreparedModule;
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    commit = undefined;
  }
  return { mod, prep, commit: commit ? `${commit}${side === 'B' ? ' (+ work tree)' : ''}` : undefined };
}

/**
 * Runs the A/B (or B only) comparison. `url` unset: PGlite (in memory), where only this
 * process's CPU exists.
 */
export async function measureRlsAB(url: string | undefined, opts: { baseRoot?: string; rounds: number; txPerPhase: number }): Promise<RlsFigures> {
  const sides: Side[] = opts.baseRoot ? ['A', 'B'] : ['B'];
  const runId = Date.now().toString(36);
  type Row = { id: string; tenant_id: string; body: string };
  interface Handle {
    db: PlatformDb.Database<BenchDB>;
    dir: string;
    schema: string;
    app: string;
    policy: string;
    commit?: string;
    root: string;
    /** the reads as production's hot reads are written: compiled once, named statements */
    tenantRead: { run(db: PlatformDb.Tx<BenchDB>, p: { id: string }): Promise<Row[]>; statementName(): string | undefined };
    ownerRead: { run(db: PlatformDb.Tx<BenchDB>, p: { id: string; tenant: string }): Promise<Row[]>; statementName(): string | undefined };
  }
  const handles = new Map<Side, Handle>();
  const load = os.loadavg();
  // the same rows on both sides: 10 tenants × 1,000 rows
  const rows = Array.from({ length: 10 }, () => randomUUID()).flatMap((tenant) => Array.from({ length: 1000 }, () => ({ id: randomUUID(), tenant })));
  try {
    for (const side of sides) {
      const checkout = side === 'A' ? opts.baseRoot! : root;
      const { mod, prep, commit } = await loadSide(side, checkout);
      const dir = await mkdtemp(path.join(tmpdir(), `gh-bench-rls-${side}-`));
      await writeFile(
        path.join(dir, '0001_items.sql'),
        `create table items (id uuid primary key, tenant_id uuid not null, body text not null);
         create index on items (tenant_id);
         ${mod.rlsSql('items')}
         grant select, insert, update, delete on items to gatehouse_app;`,
      );
      const schema = `bench_rls_${side.toLowerCase()}_${runId}`;
      const app = `gh_bench_rls_${side}_${runId}`;
      const sideUrl = url ? `${url}${url.includes('?') ? '&' : '?'}application_name=${app}` : undefined;
      const db = await mod.createDatabase<BenchDB>({ url: sideUrl, schema, logger });
      // the columns spelled out: prepared.ts names no statement whose result columns are `*`
      const tenantRead = prep.preparedQuery<BenchDB, { id: string }, Row>((k, p) => k.selectFrom('items').select(['id', 'tenant_id', 'body']).where('id', '=', p.id));
      const ownerRead = prep.preparedQuery<BenchDB, { id: string; tenant: string }, Row>((k, p) =>
        k.selectFrom('items').select(['id', 'tenant_id', 'body']).where('id', '=', p.id).where('tenant_id', '=', p.tenant),
      );
      handles.set(side, { db, dir, schema, app, policy: mod.rlsSql('items').split('\n').pop()!, commit, root: checkout, tenantRead, ownerRead });
      await db.migrate(dir);
      for (let i = 0; i < rows.length; i += 1000) {
        await db.admin.insertInto('items').values(rows.slice(i, i + 1000).map((r) => ({ id: r.id, tenant_id: r.tenant, body: 'x'.repeat(64) }))).execute();
      }
      await sql`analyze ${sql.table(`${schema}.items`)}`.execute(db.admin);
    }

    const phases: RlsPhase[] = [];
    const run = async (side: Side, read: RlsRead, kind: 'tenant' | 'owner', count: number, offset: number) => {
      const { db, tenantRead, ownerRead } = handles.get(side)!;
      for (let i = 0; i < count; i++) {
        const r = rows[((offset + i) * 7919) % rows.length]!;
        if (read === 'named') {
          if (kind === 'tenant') await db.withTenant(r.tenant, (trx) => tenantRead.run(trx, { id: r.id }));
          else await db.admin.transaction().execute((trx) => ownerRead.run(trx, { id: r.id, tenant: r.tenant }));
        } else if (kind === 'tenant') await db.withTenant(r.tenant, (trx) => trx.selectFrom('items').selectAll().where('id', '=', r.id).executeTakeFirst());
        else await db.admin.transaction().execute((trx) => trx.selectFrom('items').selectAll().where('id', '=', r.id).where('tenant_id', '=', r.tenant).executeTakeFirst());
      }
    };
    const backends = async (side: Side) => {
      const h = handles.get(side)!;
      if (h.db.kind !== 'postgres') return [];
      return (await sql<{ pid: number }>`select pid from pg_stat_activity where application_name = ${h.app}`.execute(h.db.admin)).rows.map((r) => r.pid);
    };
    // warm-up: JIT, plans of the catalogue, the pools' connections
    for (const side of sides) {
      for (const read of READS) {
        await run(side, read, 'tenant', 300, 0);
        await run(side, read, 'owner', 300, 0);
      }
    }
    const order: Array<[Side, RlsRead, 'tenant' | 'owner']> = sides.flatMap((s) => READS.flatMap((m) => [[s, m, 'tenant'], [s, m, 'owner']] as Array<[Side, RlsRead, 'tenant' | 'owner']>));
    for (let round = 0; round < opts.rounds; round++) {
      // alternate the order each round so drift (caches, other load) hits every phase alike
      for (const [side, read, kind] of round % 2 ? [...order].reverse() : order) {
        const pids = await backends(side);
        const s0 = pids.reduce((a, p) => a + runNs(p), 0);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await run(side, read, kind, opts.txPerPhase, round * opts.txPerPhase);
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        const server = (pids.reduce((a, p) => a + runNs(p), 0) - s0) / 1000;
        const client = c.user + c.system;
        const n = opts.txPerPhase;
        phases.push({ side, read, kind, round, wallUsPerTx: (1000 * wall) / n, cpuUsPerTx: (client + server) / n, clientUsPerTx: client / n, serverUsPerTx: server / n });
      }
    }

    /** executions of a named read by the generic and by custom plans, on every connection of the pool that ran it */
    const planCounts = async (side: Side, kind: 'tenant' | 'owner') => {
      const h = handles.get(side)!;
      const name = (kind === 'tenant' ? h.tenantRead : h.ownerRead).statementName();
      if (h.db.kind !== 'postgres' || !name) return [];
      const q = (trx: PlatformDb.Tx<BenchDB>) =>
        sql<{ generic: number; custom: number }>`select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where name = ${name}`.execute(trx);
      // the pools hand out their most recently used connection: the one the phases ran on
      const found = kind === 'tenant' ? await h.db.withTenant(rows[0]!.tenant, q) : await h.db.admin.transaction().execute(q);
      return found.rows;
    };
    const figures: RlsFigures['sides'] = {};
    for (const side of sides) {
      figures[side] = {};
      for (const read of READS) {
      const h = handles.get(side)!;
      const of = (kind: 'tenant' | 'owner') => phases.filter((p) => p.side === side && p.read === read && p.kind === kind);
      const t = of('tenant');
      const o = of('owner');
      const pct = (f: (p: RlsPhase) => number) => median(t.map((p, i) => 100 * (f(p) / f(o[i]!) - 1)));
      figures[side][read] = {
        root: h.root,
        commit: h.commit,
        policy: h.policy,
        tenantPerSec: 1e6 / median(t.map((p) => p.wallUsPerTx)),
        ownerPerSec: 1e6 / median(o.map((p) => p.wallUsPerTx)),
        cpuUsPerTx: {
          tenant: median(t.map((p) => p.cpuUsPerTx)),
          owner: median(o.map((p) => p.cpuUsPerTx)),
          tenantClient: median(t.map((p) => p.clientUsPerTx)),
          ownerClient: median(o.map((p) => p.clientUsPerTx)),
          tenantServer: median(t.map((p) => p.serverUsPerTx)),
          ownerServer: median(o.map((p) => p.serverUsPerTx)),
        },
        wallCostPct: pct((p) => p.wallUsPerTx),
        cpuCostPct: pct((p) => p.cpuUsPerTx),
        clientCostPct: pct((p) => p.clientUsPerTx),
        serverCostPct: pct((p) => p.serverUsPerTx),
        ...(read === 'named' ? { plans: { tenant: await planCounts(side, 'tenant'), owner: await planCounts(side, 'owner') } } : {}),
      };
      }
    }
    const kind = handles.get('B')!.db.kind;
    return {
      kind,
      txPerPhase: opts.txPerPhase,
      rounds: opts.rounds,
      sides: figures,
      phases,
      load,
      loadAfter: os.loadavg(),
      method:
        `${opts.txPerPhase} primary-key reads per phase, each in its own transaction, on ${kind}; 10 tenants × 1,000 rows; per round the phases ` +
        `${order.map(([s, m, k]) => `${s}-${m}-${k}`).join(', ')} (reversed every other round), ${opts.rounds} rounds. tenant = withTenant (its open + app.tenant_id + policy), ` +
        `owner = the owner connection with an explicit tenant_id filter; named = the read as production's hot reads (preparedQuery, a named prepared statement), unnamed = a Kysely builder per call. Cost = tenant / owner − 1 within a round, median over rounds; CPU = this process ` +
        `(process.cpuUsage)${kind === 'postgres' ? " + the side's PostgreSQL backends (/proc/<pid>/schedstat)" : ', PGlite included (it runs in this process)'}.`,
    };
  } finally {
    for (const h of handles.values()) {
      await sql.raw(`drop schema if exists ${h.schema} cascade`).execute(h.db.admin).catch(() => {});
      await h.db.close();
      await rm(h.dir, { recursive: true, force: true });
    }
  }
}

/**
 * The same comparison for the full bench: this checkout only. The issue's figure is the named
 * read (production's path); the unnamed one is reported beside it.
 */
export async function measureRls(url?: string) {
  const r = await measureRlsAB(url, { rounds: 10, txPerPhase: 300 });
  const b = r.sides.B!.named!;
  const u = r.sides.B!.unnamed!;
  return {
    read: 'named' as const,
    withRlsPerSec: b.tenantPerSec,
    withoutRlsPerSec: b.ownerPerSec,
    overheadPct: b.wallCostPct,
    cpuUsPerTx: { withRls: b.cpuUsPerTx.tenant, withoutRls: b.cpuUsPerTx.owner },
    cpuOverheadPct: b.cpuCostPct,
    unnamed: { overheadPct: u.wallCostPct, cpuOverheadPct: u.cpuCostPct },
    method: r.method,
  };
}

const plansText = (p: RlsSideFigures['plans']) => {
  if (!p) return '–';
  const one = (xs: { generic: number; custom: number }[]) => (xs.length ? xs.map((x) => `${fmt(x.generic)} / ${fmt(x.custom)}`).join(', ') : 'none');
  return `${one(p.tenant)}; ${one(p.owner)}`;
};

/** The report of `BENCH_ONLY=rls`. */
export function rlsMarkdown(r: RlsFigures): string {
  const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
  const lines = [
    `Load average 1/5/15 min before ${la(r.load)}, after ${la(r.loadAfter)}. ${r.method}`,
    '',
    'Issue 13\'s figure is the `named` read (production\'s hot reads). Plans: executions of the named read by the generic / by custom plans on the connection that ran it (withTenant; owner).',
    '',
    '| side | read | checkout | policy | withTenant tx/s | owner tx/s | wall cost | CPU µs/tx withTenant (client + server) | CPU µs/tx owner (client + server) | CPU cost | client cost | server cost | plans generic / custom |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const cols: Array<[Side, RlsRead]> = (['A', 'B'] as const).flatMap((side) => READS.filter((m) => r.sides[side]?.[m]).map((m) => [side, m] as [Side, RlsRead]));
  for (const [side, read] of cols) {
    const s = r.sides[side]![read]!;
    const c = s.cpuUsPerTx;
    lines.push(
      `| ${side} | ${read} | ${s.commit ?? s.root} | \`${s.policy.replace(/^create policy tenant_isolation on items /, '').replace(/ with check .*$/, '')}\` | ${fmt(s.tenantPerSec)} | ${fmt(s.ownerPerSec)} | ${fmt(s.wallCostPct, 1)}% | ${fmt(c.tenant)} (${fmt(c.tenantClient)} + ${fmt(c.tenantServer)}) | ${fmt(c.owner)} (${fmt(c.ownerClient)} + ${fmt(c.ownerServer)}) | ${fmt(s.cpuCostPct, 1)}% | ${fmt(s.clientCostPct, 1)}% | ${Number.isFinite(s.serverCostPct) ? `${fmt(s.serverCostPct, 1)}%` : '– (in process)'} | ${plansText(s.plans)} |`,
    );
  }
  lines.push('', 'Per round (CPU µs/tx, tenant / owner, cost):', '');
  lines.push('| round | ' + cols.map(([s, m]) => `${s} ${m}`).join(' | ') + ' |');
  lines.push('|---|' + cols.map(() => '---:').join('|') + '|');
  for (let round = 0; round < r.rounds; round++) {
    const cells = cols.map(([s, m]) => {
      const t = r.phases.find((p) => p.side === s && p.read === m && p.kind === 'tenant' && p.round === round)!;
      const o = r.phases.find((p) => p.side === s && p.read === m && p.kind === 'owner' && p.round === round)!;
      return `${fmt(t.cpuUsPerTx)} / ${fmt(o.cpuUsPerTx)} (${fmt(100 * (t.cpuUsPerTx / o.cpuUsPerTx - 1), 1)}%)`;
    });
    lines.push(`| ${round + 1} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
