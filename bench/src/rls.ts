/**
 * The cost of row-level security per transaction (issue 13): the same primary-key read, each in
 * its own transaction, (a) through `withTenant` (role switch + `app.tenant_id` + the
 * tenant_isolation policy) and (b) as the owner with an explicit `tenant_id` filter.
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
import { fmt, root } from './lib';

const logger = pino({ level: 'silent' });

/** The benchmark's one table, beside the platform's. */
interface BenchDB extends PlatformTables {
  items: { id: string; tenant_id: string; body: string };
}

type DbModule = Pick<typeof PlatformDb, 'createDatabase' | 'rlsSql'>;
type Side = 'A' | 'B';

export interface RlsPhase { side: Side; kind: 'tenant' | 'owner'; round: number; wallUsPerTx: number; cpuUsPerTx: number; clientUsPerTx: number; serverUsPerTx: number }
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
}
export interface RlsFigures {
  kind: 'postgres' | 'pglite';
  txPerPhase: number;
  rounds: number;
  sides: Partial<Record<Side, RlsSideFigures>>;
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

async function loadSide(side: Side, checkout: string): Promise<{ mod: DbModule; commit?: string }> {
  const mod = (await import(path.join(checkout, 'packages/platform/src/db.ts'))) as DbModule;
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    commit = undefined;
  }
  return { mod, commit: commit ? `${commit}${side === 'B' ? ' (+ work tree)' : ''}` : undefined };
}

/**
 * Runs the A/B (or B only) comparison. `url` unset: PGlite (in memory), where only this
 * process's CPU exists.
 */
export async function measureRlsAB(url: string | undefined, opts: { baseRoot?: string; rounds: number; txPerPhase: number }): Promise<RlsFigures> {
  const sides: Side[] = opts.baseRoot ? ['A', 'B'] : ['B'];
  const runId = Date.now().toString(36);
  const handles = new Map<Side, { db: PlatformDb.Database<BenchDB>; dir: string; schema: string; app: string; policy: string; commit?: string; root: string }>();
  const load = os.loadavg();
  // the same rows on both sides: 10 tenants × 1,000 rows
  const rows = Array.from({ length: 10 }, () => randomUUID()).flatMap((tenant) => Array.from({ length: 1000 }, () => ({ id: randomUUID(), tenant })));
  try {
    for (const side of sides) {
      const checkout = side === 'A' ? opts.baseRoot! : root;
      const { mod, commit } = await loadSide(side, checkout);
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
      handles.set(side, { db, dir, schema, app, policy: mod.rlsSql('items').split('\n').pop()!, commit, root: checkout });
      await db.migrate(dir);
      for (let i = 0; i < rows.length; i += 1000) {
        await db.admin.insertInto('items').values(rows.slice(i, i + 1000).map((r) => ({ id: r.id, tenant_id: r.tenant, body: 'x'.repeat(64) }))).execute();
      }
      await sql`analyze ${sql.table(`${schema}.items`)}`.execute(db.admin);
    }

    const phases: RlsPhase[] = [];
    const run = async (side: Side, kind: 'tenant' | 'owner', count: number, offset: number) => {
      const { db } = handles.get(side)!;
      for (let i = 0; i < count; i++) {
        const r = rows[((offset + i) * 7919) % rows.length]!;
        if (kind === 'tenant') await db.withTenant(r.tenant, (trx) => trx.selectFrom('items').selectAll().where('id', '=', r.id).executeTakeFirst());
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
      await run(side, 'tenant', 300, 0);
      await run(side, 'owner', 300, 0);
    }
    const order: Array<[Side, 'tenant' | 'owner']> = sides.flatMap((s) => [[s, 'tenant'], [s, 'owner']] as Array<[Side, 'tenant' | 'owner']>);
    for (let round = 0; round < opts.rounds; round++) {
      // alternate the order each round so drift (caches, other load) hits every phase alike
      for (const [side, kind] of round % 2 ? [...order].reverse() : order) {
        const pids = await backends(side);
        const s0 = pids.reduce((a, p) => a + runNs(p), 0);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await run(side, kind, opts.txPerPhase, round * opts.txPerPhase);
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        const server = (pids.reduce((a, p) => a + runNs(p), 0) - s0) / 1000;
        const client = c.user + c.system;
        const n = opts.txPerPhase;
        phases.push({ side, kind, round, wallUsPerTx: (1000 * wall) / n, cpuUsPerTx: (client + server) / n, clientUsPerTx: client / n, serverUsPerTx: server / n });
      }
    }

    const figures: RlsFigures['sides'] = {};
    for (const side of sides) {
      const h = handles.get(side)!;
      const of = (kind: 'tenant' | 'owner') => phases.filter((p) => p.side === side && p.kind === kind);
      const t = of('tenant');
      const o = of('owner');
      const pct = (f: (p: RlsPhase) => number) => median(t.map((p, i) => 100 * (f(p) / f(o[i]!) - 1)));
      figures[side] = {
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
      };
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
        `${order.map(([s, k]) => `${s}-${k}`).join(', ')} (reversed every other round), ${opts.rounds} rounds. tenant = withTenant (role switch + app.tenant_id + policy), ` +
        `owner = the owner connection with an explicit tenant_id filter. Cost = tenant / owner − 1 within a round, median over rounds; CPU = this process ` +
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

/** The same comparison for the full bench: this checkout only. */
export async function measureRls(url?: string) {
  const r = await measureRlsAB(url, { rounds: 10, txPerPhase: 300 });
  const b = r.sides.B!;
  return {
    withRlsPerSec: b.tenantPerSec,
    withoutRlsPerSec: b.ownerPerSec,
    overheadPct: b.wallCostPct,
    cpuUsPerTx: { withRls: b.cpuUsPerTx.tenant, withoutRls: b.cpuUsPerTx.owner },
    cpuOverheadPct: b.cpuCostPct,
    method: r.method,
  };
}

/** The report of `BENCH_ONLY=rls`. */
export function rlsMarkdown(r: RlsFigures): string {
  const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
  const lines = [
    `Load average 1/5/15 min before ${la(r.load)}, after ${la(r.loadAfter)}. ${r.method}`,
    '',
    '| side | checkout | policy | withTenant tx/s | owner tx/s | wall cost | CPU µs/tx withTenant (client + server) | CPU µs/tx owner (client + server) | CPU cost | client cost | server cost |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const side of ['A', 'B'] as const) {
    const s = r.sides[side];
    if (!s) continue;
    const c = s.cpuUsPerTx;
    lines.push(
      `| ${side} | ${s.commit ?? s.root} | \`${s.policy.replace(/^create policy tenant_isolation on items /, '').replace(/ with check .*$/, '')}\` | ${fmt(s.tenantPerSec)} | ${fmt(s.ownerPerSec)} | ${fmt(s.wallCostPct, 1)}% | ${fmt(c.tenant)} (${fmt(c.tenantClient)} + ${fmt(c.tenantServer)}) | ${fmt(c.owner)} (${fmt(c.ownerClient)} + ${fmt(c.ownerServer)}) | ${fmt(s.cpuCostPct, 1)}% | ${fmt(s.clientCostPct, 1)}% | ${Number.isFinite(s.serverCostPct) ? `${fmt(s.serverCostPct, 1)}%` : '– (in process)'} |`,
    );
  }
  lines.push('', 'Per round (CPU µs/tx, tenant / owner, cost):', '');
  lines.push('| round | ' + (['A', 'B'] as const).filter((s) => r.sides[s]).join(' | ') + ' |');
  lines.push('|---|' + (['A', 'B'] as const).filter((s) => r.sides[s]).map(() => '---:').join('|') + '|');
  for (let round = 0; round < r.rounds; round++) {
    const cells = (['A', 'B'] as const)
      .filter((s) => r.sides[s])
      .map((s) => {
        const t = r.phases.find((p) => p.side === s && p.kind === 'tenant' && p.round === round)!;
        const o = r.phases.find((p) => p.side === s && p.kind === 'owner' && p.round === round)!;
        return `${fmt(t.cpuUsPerTx)} / ${fmt(o.cpuUsPerTx)} (${fmt(100 * (t.cpuUsPerTx / o.cpuUsPerTx - 1), 1)}%)`;
      });
    lines.push(`| ${round + 1} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
