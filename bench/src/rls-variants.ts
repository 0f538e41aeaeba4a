/**
 * `BENCH_ONLY=rls BENCH_RLS_VARIANTS=1` (PostgreSQL only): where the cost of RLS per transaction
 * lies, on plain node-postgres clients (no Kysely), one connection per variant, the same
 * primary-key read each time. The variants isolate what withTenant could do differently: the
 * policy's form (a SQL function, the expression written out, a subselect), a session that
 * starts as the application role (with the role set per transaction, `reset role` to the
 * session's own role, or only the tenant), the open written together with the first
 * statement (node-postgres' pipeline mode), and the read as a named prepared statement (the
 * named variants compare with the owner's named read). Rounds of `block`
 * transactions per variant, the order reversed every other block; server CPU from
 * /proc/<pid>/schedstat of each connection's backend, client CPU of this process.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';

interface Variant {
  name: string;
  what: string;
  /** startup options beyond the search_path */
  options?: string;
  pipeline?: boolean;
  /** the variant its cost is measured against, when not `owner` / `owner, named` */
  base?: string;
  run(c: pg.Client, r: { id: string; tenant: string }): Promise<unknown>;
}

const policy = {
  fn: 'tenant_id = app_tenant()',
  inline: `tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid`,
  sub: 'tenant_id = (select app_tenant())',
};

const open = (t: string) => `begin; set local role gatehouse_app; set local app.tenant_id = '${t}'`;
const read = (table: string) => (c: pg.Client, r: { id: string }) => c.query(`select * from ${table} where id = $1`, [r.id]);
const ownerRead = (c: pg.Client, r: { id: string; tenant: string }) => c.query('select * from items_plain where id = $1 and tenant_id = $2', [r.id, r.tenant]);

/** `open` and `read` written back to back on a pipeline-mode client, then the commit. */
async function pipelinedTx(c: pg.Client, open: string, read: pg.QueryConfig): Promise<void> {
  const opened = c.query(open);
  const row = c.query(read);
  await opened;
  await row;
  await c.query('commit');
}

const VARIANTS: Variant[] = [
  { name: 'owner', what: 'owner, begin / read with tenant_id filter / commit (no RLS)', run: async (c, r) => { await c.query('begin'); await ownerRead(c, r); await c.query('commit'); } },
  { name: 'role+fn', what: `withTenant's open, policy \`${policy.fn}\``, run: async (c, r) => { await c.query(open(r.tenant)); await read('items_fn')(c, r); await c.query('commit'); } },
  { name: 'role+inline', what: `withTenant's open, policy \`${policy.inline}\``, run: async (c, r) => { await c.query(open(r.tenant)); await read('items_inline')(c, r); await c.query('commit'); } },
  { name: 'role+sub', what: `withTenant's open, policy \`${policy.sub}\` (InitPlan)`, run: async (c, r) => { await c.query(open(r.tenant)); await read('items_sub')(c, r); await c.query('commit'); } },
  {
    name: 'app session+role+inline',
    what: "session started as gatehouse_app (`-c role=`), withTenant's open (role set locally too), inline policy: withTenant now",
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(open(r.tenant)); await read('items_inline')(c, r); await c.query('commit'); },
  },
  {
    name: 'app session+reset+inline',
    what: 'session started as gatehouse_app, open `begin; reset role; set local app.tenant_id` (withTenant on PostgreSQL after issue 13\'s third pass), inline policy',
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(`begin; reset role; set local app.tenant_id = '${r.tenant}'`); await read('items_inline')(c, r); await c.query('commit'); },
  },
  {
    name: 'app session+inline',
    what: 'session started as gatehouse_app, open `begin; set local app.tenant_id` only, inline policy',
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(`begin; set local app.tenant_id = '${r.tenant}'`); await read('items_inline')(c, r); await c.query('commit'); },
  },
  {
    name: 'pipelined+inline',
    what: 'as the previous, the open and the read written back to back (pipeline mode)',
    options: ' -c role=gatehouse_app',
    pipeline: true,
    run: (c, r) => pipelinedTx(c, `begin; set local app.tenant_id = '${r.tenant}'`, { text: 'select * from items_inline where id = $1', values: [r.id] }),
  },
  { name: 'owner, named', what: 'as `owner`, the read as a named prepared statement (the base of the named variants below)', run: async (c, r) => { await c.query('begin'); await c.query({ name: 'rlsv_owner', text: 'select * from items_plain where id = $1 and tenant_id = $2', values: [r.id, r.tenant] }); await c.query('commit'); } },
  {
    name: 'app session+role+inline, named',
    what: 'withTenant now, the read as a named prepared statement',
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(open(r.tenant)); await c.query({ name: 'rlsv_inline', text: 'select * from items_inline where id = $1', values: [r.id] }); await c.query('commit'); },
  },
  {
    name: 'app session+reset+inline, named',
    what: 'withTenant on PostgreSQL after the third pass (`reset role`), the read as a named prepared statement',
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(`begin; reset role; set local app.tenant_id = '${r.tenant}'`); await c.query({ name: 'rlsv_inline', text: 'select * from items_inline where id = $1', values: [r.id] }); await c.query('commit'); },
  },
  {
    name: 'app session+inline, named',
    what: 'session started as gatehouse_app, open `begin; set local app.tenant_id` only, the read as a named prepared statement',
    options: ' -c role=gatehouse_app',
    run: async (c, r) => { await c.query(`begin; set local app.tenant_id = '${r.tenant}'`); await c.query({ name: 'rlsv_inline', text: 'select * from items_inline where id = $1', values: [r.id] }); await c.query('commit'); },
  },
  {
    name: 'owner pipelined, named',
    what: 'as `owner, named`, its `begin` and the read written back to back (pipeline mode): what the owner\'s transaction would cost opened as withTenant\'s is',
    pipeline: true,
    base: 'owner, named',
    run: (c, r) => pipelinedTx(c, 'begin', { name: 'rlsv_owner', text: 'select * from items_plain where id = $1 and tenant_id = $2', values: [r.id, r.tenant] }),
  },
  {
    name: 'app session+reset+inline pipelined, named',
    what: 'withTenant on PostgreSQL now: session started as gatehouse_app, `begin; reset role; set local app.tenant_id` and the named read written back to back (pipeline mode, openWithNext)',
    options: ' -c role=gatehouse_app',
    pipeline: true,
    base: 'owner, named',
    run: (c, r) => pipelinedTx(c, `begin; reset role; set local app.tenant_id = '${r.tenant}'`, { name: 'rlsv_inline', text: 'select * from items_inline where id = $1', values: [r.id] }),
  },
  { name: 'role, no RLS', what: "withTenant's open, then the owner's read of a table without RLS (the open's own cost)", run: async (c, r) => { await c.query(open(r.tenant)); await ownerRead(c, r); await c.query('commit'); } },
];

export interface RlsVariantFigures {
  rows: Array<{ name: string; what: string; base?: string; serverUs: number; clientUs: number; wallUs: number }>;
  rounds: number;
  block: number;
  load: number[];
  loadAfter: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const runNs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);

export async function measureRlsVariants(url: string, opts: { rounds: number; block: number }): Promise<RlsVariantFigures> {
  const schema = `bench_rlsv_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const tenants = Array.from({ length: 10 }, () => randomUUID());
  const rows = tenants.flatMap((tenant) => Array.from({ length: 1000 }, () => ({ id: randomUUID(), tenant })));
  const clients: pg.Client[] = [];
  const load = os.loadavg();
  try {
    // the role exists: the A/B run before this migrated with the platform prelude
    await admin.query(`create schema ${schema}; grant usage on schema ${schema} to gatehouse_app; set search_path = ${schema};
      create function app_tenant() returns uuid language sql stable as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;
      grant execute on function app_tenant() to gatehouse_app`);
    for (const [table, using] of [['items_plain', undefined], ['items_fn', policy.fn], ['items_inline', policy.inline], ['items_sub', policy.sub]] as const) {
      await admin.query(`create table ${table} (id uuid primary key, tenant_id uuid not null, body text not null); create index on ${table} (tenant_id)`);
      await admin.query(`insert into ${table} select (r->>'id')::uuid, (r->>'tenant')::uuid, repeat('x', 64) from jsonb_array_elements($1::jsonb) r`, [JSON.stringify(rows)]);
      if (using) await admin.query(`alter table ${table} enable row level security; alter table ${table} force row level security; create policy tenant_isolation on ${table} using (${using})`);
      await admin.query(`grant select on ${table} to gatehouse_app; analyze ${table}`);
    }
    const conns: Array<{ v: Variant; c: pg.Client; pid: number; server: number[]; client: number[]; wall: number[] }> = [];
    for (const v of VARIANTS) {
      const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema},public${v.options ?? ''}`, ...(v.pipeline ? { pipeline: true } : {}) });
      await c.connect();
      clients.push(c);
      const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      conns.push({ v, c, pid, server: [], client: [], wall: [] });
    }
    let k = 0;
    const pick = () => rows[(k++ * 7919) % rows.length]!;
    for (const x of conns) for (let i = 0; i < 300; i++) await x.v.run(x.c, pick());
    for (let round = 0; round < opts.rounds; round++) {
      for (const x of round % 2 ? [...conns].reverse() : conns) {
        const s0 = runNs(x.pid);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < opts.block; i++) await x.v.run(x.c, pick());
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        x.wall.push((1000 * wall) / opts.block);
        x.server.push((runNs(x.pid) - s0) / 1000 / opts.block);
        x.client.push((c.user + c.system) / opts.block);
      }
    }
    return {
      rows: conns.map((x) => ({ name: x.v.name, what: x.v.what, ...(x.v.base ? { base: x.v.base } : {}), serverUs: median(x.server), clientUs: median(x.client), wallUs: median(x.wall) })),
      rounds: opts.rounds,
      block: opts.block,
      load,
      loadAfter: os.loadavg(),
    };
  } finally {
    for (const c of clients) await c.end().catch(() => {});
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await admin.end();
  }
}

type Row = RlsVariantFigures['rows'][number];
/** `x`'s server + client CPU per transaction over `b`'s, in percent above it */
const cpuCost = (x: Row, b: Row) => (100 * (x.serverUs + x.clientUs)) / (b.serverUs + b.clientUs) - 100;

export function rlsVariantsMarkdown(r: RlsVariantFigures): string {
  const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');
  const base = r.rows[0]!;
  const namedBase = r.rows.find((x) => x.name === 'owner, named');
  const lines = [
    `Plain node-postgres, one connection per variant, ${r.rounds} rounds of ${r.block} transactions each (order reversed every other round), medians; load average before ${la(r.load)}, after ${la(r.loadAfter)}. Cost against \`${base.name}\` (server + client CPU); the named variants against \`${namedBase?.name ?? base.name}\`.`,
    '',
    '| variant | what | server µs/tx | client µs/tx | CPU cost | wall µs/tx |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const x of r.rows) {
    const b = (x.base && r.rows.find((y) => y.name === x.base)) || (x.name.endsWith(', named') && namedBase ? namedBase : base);
    lines.push(`| ${x.name} | ${x.what} | ${x.serverUs.toFixed(1)} | ${x.clientUs.toFixed(1)} | ${x === b ? '–' : `${cpuCost(x, b).toFixed(1)}%`} | ${x.wallUs.toFixed(0)} |`);
  }
  // like for like: withTenant's pipelined open against the owner's begin pipelined the same way
  const tenantNow = r.rows.find((x) => x.name === 'app session+reset+inline pipelined, named');
  const ownerPipelined = r.rows.find((x) => x.name === 'owner pipelined, named');
  if (tenantNow && ownerPipelined) {
    lines.push('', `Like for like, both opens pipelined: \`${tenantNow.name}\` against \`${ownerPipelined.name}\`: ${cpuCost(tenantNow, ownerPipelined).toFixed(1)}% CPU.`);
  }
  return lines.join('\n') + '\n';
}
