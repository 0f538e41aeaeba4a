/**
 * EXPLAIN (ANALYZE, BUFFERS) of the SQL the measured endpoints run. The statements are not
 * re-typed here: the services' own query functions run on a Kysely whose `log` hook records
 * each compiled statement with its parameters (in a transaction that is rolled back), and each
 * recorded statement is then explained under the same row-level security context the service
 * uses (`role gatehouse_app`, `app.tenant_id`). A Seq Scan on a table of more than 10,000 rows
 * is flagged.
 */
import { Kysely, PostgresDialect, sql, type CompiledQuery, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB as AuthDB, Tx as AuthTx } from '../../../services/auth/src/db/schema';
import type { DB as AuditDB, Tx as AuditTx } from '../../../services/audit/src/db/schema';
import type { DB as UsersDB, Tx as UsersTx } from '../../../services/users/src/db/schema';
import { findUserByEmail, findUserById } from '../../../services/auth/src/modules/users/users.queries';
import { findRefreshWithTenant, rotateRefreshToken } from '../../../services/auth/src/modules/sessions/sessions.queries';
import { searchUsers } from '../../../services/auth/src/modules/admin-users/admin-users.queries';
import { listEntries } from '../../../services/audit/src/modules/entries/entries.queries';
import { chainPage } from '../../../services/audit/src/modules/chain/chain.queries';
import { listEventAttendance, listRoster } from '../../../services/users/src/modules/attendance/attendance.queries';
import { BIG_TENANT } from './data';
import type { Probe } from './seed';

export interface Explained { name: string; sql: string; ms: number; sharedHit: number; sharedRead: number; seqScans: Array<{ table: string; rows: number }>; indexes: string[]; verdict: 'ok' | 'SEQ SCAN ON LARGE TABLE' }

const LARGE = 10_000;

class Rollback extends Error {}

/** Runs `fn` on a Kysely bound to `schema` inside a rolled-back RLS transaction; returns the statements it ran. */
async function capture<DB>(url: string, schema: string, tenantId: string | undefined, fn: (trx: Transaction<DB>, db: Kysely<DB>) => Promise<unknown>): Promise<CompiledQuery[]> {
  const out: CompiledQuery[] = [];
  let recording = false;
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema},public` }) }),
    log: (e) => { if (recording && e.level === 'query') out.push(e.query); },
  });
  try {
    await db.transaction().execute(async (trx) => {
      if (tenantId) await sql`select set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', ${tenantId}, true)`.execute(trx);
      recording = true;
      await fn(trx, db);
      recording = false;
      throw new Rollback();
    }).catch((e: unknown) => { if (!(e instanceof Rollback)) throw e; });
  } finally {
    await db.destroy();
  }
  return out;
}

interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Plans'?: PlanNode[] }

/** EXPLAINs one statement in the same RLS context; reads the plan tree for scans. */
async function explain(client: pg.Client, schema: string, tenantId: string | undefined, name: string, q: CompiledQuery): Promise<Explained> {
  await client.query('begin');
  try {
    await client.query(`set local search_path to ${schema}, public`);
    if (tenantId) await client.query(`select set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', $1, true)`, [tenantId]);
    const r = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode & { 'Shared Hit Blocks': number; 'Shared Read Blocks': number }; 'Execution Time': number }> }>(
      `explain (analyze, buffers, format json) ${q.sql}`,
      [...q.parameters],
    );
    const top = r.rows[0]!['QUERY PLAN'][0]!;
    await client.query('rollback');
    const seq: Array<{ table: string; rows: number }> = [];
    const indexes: string[] = [];
    const walk = (n: PlanNode) => {
      if (n['Node Type'] === 'Seq Scan' && n['Relation Name']) seq.push({ table: n['Relation Name'], rows: 0 });
      if (n['Index Name']) indexes.push(n['Index Name']);
      for (const c of n.Plans ?? []) walk(c);
    };
    walk(top.Plan);
    for (const s of seq) {
      const c = await client.query<{ n: string }>(`select reltuples::bigint as n from pg_class where oid = $1::regclass`, [`${schema}.${s.table}`]);
      s.rows = Number(c.rows[0]?.n ?? 0);
    }
    return {
      name,
      sql: q.sql,
      ms: top['Execution Time'],
      sharedHit: top.Plan['Shared Hit Blocks'],
      sharedRead: top.Plan['Shared Read Blocks'],
      seqScans: seq,
      indexes: [...new Set(indexes)],
      verdict: seq.some((s) => s.rows > LARGE) ? 'SEQ SCAN ON LARGE TABLE' : 'ok',
    };
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  }
}

/** Every statement behind the measured endpoints, explained. */
export async function explainReads(url: string, probe: Probe): Promise<Explained[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const u = probe.users[123 % probe.users.length]!;
    const token = (await client.query<{ token_hash: string }>(`select token_hash from auth.refresh_tokens where tenant_id = $1 and used_at is null limit 1`, [BIG_TENANT])).rows[0]?.token_hash ?? '0';
    const head = Number((await client.query<{ s: string }>(`select max(seq) as s from audit.entries where tenant_id = $1`, [BIG_TENANT])).rows[0]?.s ?? 0);
    const jobs: Array<{ name: string; schema: string; tenant?: string; run: () => Promise<CompiledQuery[]> }> = [
      { name: 'login: user by email', schema: 'auth', tenant: BIG_TENANT, run: () => capture<AuthDB>(url, 'auth', BIG_TENANT, (trx) => findUserByEmail(trx as AuthTx, u.email)) },
      { name: 'me: user by id', schema: 'auth', tenant: BIG_TENANT, run: () => capture<AuthDB>(url, 'auth', BIG_TENANT, (trx) => findUserById(trx as AuthTx, u.id)) },
      { name: 'refresh: token and tenant (owner)', schema: 'auth', run: () => capture<AuthDB>(url, 'auth', undefined, (_trx, db) => findRefreshWithTenant(db, token)) },
      { name: 'refresh: one-statement rotation', schema: 'auth', tenant: BIG_TENANT, run: () => capture<AuthDB>(url, 'auth', BIG_TENANT, (trx) => rotateRefreshToken(trx as AuthTx, { tokenHash: token, nextHash: 'f'.repeat(64), idleSec: 3600, ip: null })) },
      { name: 'admin search, prefix', schema: 'auth', tenant: BIG_TENANT, run: () => capture<AuthDB>(url, 'auth', BIG_TENANT, (trx) => searchUsers(trx as AuthTx, { query: 'probe-0012', match: 'prefix', limit: 51 })) },
      { name: 'admin search, substring', schema: 'auth', tenant: BIG_TENANT, run: () => capture<AuthDB>(url, 'auth', BIG_TENANT, (trx) => searchUsers(trx as AuthTx, { query: 'probe-0012', limit: 51 })) },
      { name: '/audit/events first page', schema: 'audit', tenant: BIG_TENANT, run: () => capture<AuditDB>(url, 'audit', BIG_TENANT, (trx) => listEntries(trx as AuditTx, BIG_TENANT, {}, { order: 'desc', limit: 51 })) },
      { name: '/audit/events page 1,000', schema: 'audit', tenant: BIG_TENANT, run: () => capture<AuditDB>(url, 'audit', BIG_TENANT, (trx) => listEntries(trx as AuditTx, BIG_TENANT, {}, { order: 'desc', limit: 51, beforeSeq: head - 999 * 50 + 1 })) },
      { name: '/audit/me', schema: 'audit', tenant: BIG_TENANT, run: () => capture<AuditDB>(url, 'audit', BIG_TENANT, (trx) => listEntries(trx as AuditTx, BIG_TENANT, { ownerId: u.id }, { order: 'desc', limit: 51 })) },
      { name: '/audit/verify batch', schema: 'audit', tenant: probe.verifyTenantId, run: () => capture<AuditDB>(url, 'audit', probe.verifyTenantId, (trx) => chainPage(trx as AuditTx, probe.verifyTenantId, 0, 1000)) },
      { name: 'attendance report: records', schema: 'users', tenant: BIG_TENANT, run: () => capture<UsersDB>(url, 'users', BIG_TENANT, (trx) => listEventAttendance(trx as UsersTx, probe.eventId)) },
      { name: 'attendance report: roster', schema: 'users', tenant: BIG_TENANT, run: () => capture<UsersDB>(url, 'users', BIG_TENANT, (trx) => listRoster(trx as UsersTx, probe.eventId)) },
    ];
    const out: Explained[] = [];
    for (const j of jobs) {
      const qs = await j.run();
      for (const [i, q] of qs.entries()) out.push(await explain(client, j.schema, j.tenant, qs.length > 1 ? `${j.name} (${i + 1})` : j.name, q));
    }
    return out;
  } finally {
    await client.end();
  }
}
