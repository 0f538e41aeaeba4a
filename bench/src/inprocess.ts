/**
 * Benchmarks that run inside the bench process: the cost of row-level security at the
 * database, and the audit service's ingestion throughput.
 */
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { pino } from 'pino';
import { createDatabase, rlsSql, loadConfig, createSharedDeps, closeSharedDeps, makeEvent, startService } from '@gatehouse/platform';
import type { PlatformTables } from '@gatehouse/platform/schema';
import { auditService } from '@gatehouse/audit';
import { cpuMs } from './cpu';

const logger = pino({ level: 'silent' });

/** The benchmark's one table, beside the platform's. */
interface BenchDB extends PlatformTables {
  items: { id: string; tenant_id: string; body: string };
}

/**
 * Same primary-key read in the same kind of transaction, (a) through `withTenant`
 * (SET LOCAL ROLE to the RLS-bound role + app.tenant_id, policy applied) and (b) as the
 * owner with an explicit `tenant_id` filter: the difference is what RLS costs a request.
 */
export async function measureRls(url?: string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-bench-rls-'));
  await writeFile(
    path.join(dir, '0001_items.sql'),
    `create table items (id uuid primary key, tenant_id uuid not null, body text not null);
     create index on items (tenant_id);
     ${rlsSql('items')}
     grant select, insert, update, delete on items to gatehouse_app;`,
  );
  const schema = `bench_rls_${Date.now().toString(36)}`;
  const db = await createDatabase<BenchDB>({ url, schema, logger });
  try {
    await db.migrate(dir);
    const tenants = Array.from({ length: 10 }, () => randomUUID());
    const rows: Array<{ id: string; tenant: string }> = [];
    for (const t of tenants) {
      const batch = Array.from({ length: 1000 }, () => ({ id: randomUUID(), tenant_id: t, body: 'x'.repeat(64) }));
      await db.admin.insertInto('items').values(batch).execute();
      for (const b of batch) rows.push({ id: b.id, tenant: t });
    }
    const n = 3000;
    const pick = (i: number) => rows[(i * 7919) % rows.length]!;
    async function withRls(k: number) {
      for (let i = 0; i < k; i++) {
        const r = pick(i);
        await db.withTenant(r.tenant, (trx) => trx.selectFrom('items').selectAll().where('id', '=', r.id).executeTakeFirst());
      }
    }
    async function withoutRls(k: number) {
      for (let i = 0; i < k; i++) {
        const r = pick(i);
        await db.admin.transaction().execute((trx) =>
          trx.selectFrom('items').selectAll().where('id', '=', r.id).where('tenant_id', '=', r.tenant).executeTakeFirst(),
        );
      }
    }
    await withRls(300);
    await withoutRls(300);
    // CPU of both ends per transaction: this process and the database backends serving it
    // (PostgreSQL on this machine: /proc/<pid>/stat), which other load on the machine
    // disturbs far less than the wall time
    const backends = async () =>
      db.kind === 'postgres'
        ? (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(db.admin)).rows.map((r) => r.pid)
        : [];
    const serverCpu = (pids: number[]) => pids.reduce((sum, pid) => { try { return sum + cpuMs(pid); } catch { return sum; } }, 0);
    let a = 0;
    let b = 0;
    let cpuA = 0;
    let cpuB = 0;
    // alternate in short rounds so drift (caches, other load) hits both sides alike
    const rounds = 10;
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 ? (['b', 'a'] as const) : (['a', 'b'] as const)) {
        const pids = await backends();
        const s0 = serverCpu(pids);
        const c0 = process.cpuUsage();
        const t = performance.now();
        await (side === 'a' ? withRls(n / rounds) : withoutRls(n / rounds));
        const wall = performance.now() - t;
        const c = process.cpuUsage(c0);
        const cpu = (c.user + c.system) / 1000 + serverCpu(pids) - s0;
        if (side === 'a') { a += wall; cpuA += cpu; } else { b += wall; cpuB += cpu; }
      }
    }
    const withRlsPerSec = n / (a / 1000);
    const withoutRlsPerSec = n / (b / 1000);
    return {
      withRlsPerSec,
      withoutRlsPerSec,
      overheadPct: (100 * (withoutRlsPerSec - withRlsPerSec)) / withoutRlsPerSec,
      cpuUsPerTx: { withRls: (1000 * cpuA) / n, withoutRls: (1000 * cpuB) / n },
      cpuOverheadPct: (100 * (cpuA - cpuB)) / cpuB,
      method: `${n} primary-key reads, each in its own transaction, on ${db.kind}: withTenant (role switch + app.tenant_id + policy) vs owner with an explicit tenant_id filter; 10 tenants × 1,000 rows; ${rounds} alternating rounds. overheadPct from the wall time, cpuOverheadPct from the CPU of this process plus the database backends (/proc/<pid>/stat).`,
    };
  } finally {
    await sql.raw(`drop schema if exists ${schema} cascade`).execute(db.admin).catch(() => {});
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Publishes events for one tenant into an in-process audit service and times their ingestion. */
export async function measureIngestion(url?: string) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-bench-audit-'));
  const schemaReset = async () => {
    if (!url) return;
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('drop schema if exists audit cascade');
    await c.end();
  };
  await schemaReset();
  const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: url, GATEHOUSE_SECRET: 'bench-secret-bench-secret-bench-secret', LOG_LEVEL: 'silent' });
  const shared = await createSharedDeps(config, logger);
  const noTokens = async (): Promise<never> => {
    throw new Error('no tokens in this benchmark');
  };
  const audit = await startService(auditService, config, { ...shared, verificationKeys: noTokens });
  const events = 3000;
  const tenant = randomUUID();
  const counter = () => shared.registry.getSingleMetric('gatehouse_audit_ingested_total')!.get().then((m) => m.values[0]?.value ?? 0);
  const start = await counter();
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    await shared.transport.publish(
      makeEvent({ source: 'bench', type: 'user.events.updated', tenantId: tenant, subject: randomUUID(), data: { id: randomUUID(), email: `u${i}@example.com`, username: null, action: 'updated' } }),
    );
  }
  while ((await counter()) - start < events) {
    if (performance.now() - t0 > 300_000) throw new Error('ingestion did not finish in 5 minutes');
    await sleep(20);
  }
  const seconds = (performance.now() - t0) / 1000;
  await audit.close();
  await closeSharedDeps(shared);
  await rm(dataDir, { recursive: true, force: true });
  return { events, seconds, perSec: events / seconds, transport: shared.transport.kind };
}
