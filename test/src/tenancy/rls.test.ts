/**
 * Row-level security, proven in the database of every service (auth, users, audit) on the
 * database the run has (PostgreSQL, or PGlite):
 *
 * - the catalogue, read from the database itself (pg_catalog), not from a list kept here:
 *   every table of every schema (system schemas aside) with a `tenant_id` column has ENABLE
 *   and FORCE ROW LEVEL SECURITY and the `tenant_isolation` policy on
 *   `tenant_id = TENANT_EXPR` (USING and WITH CHECK, all commands) and no other permissive
 *   policy that could widen it; the application role is no superuser, has no BYPASSRLS,
 *   owns no table, and can read no table without RLS except the listed global ones. A table
 *   added without RLS, in any schema, fails here; there is no list of exceptions.
 *   (Regression, issue 9 defect 9: `audit.dead_letters` had a tenant_id and no RLS, and the
 *   old catalogue let it through as "not tenant-owned".)
 * - the behaviour: deliberately unfiltered `select *`, `update` and `delete` run through each
 *   service's own `withTenant` (the request path) see and touch only that tenant's rows; an
 *   insert naming another tenant is refused; with no tenant set nothing is visible.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { APP_ROLE, TENANT_EXPR, type Database } from '@gatehouse/platform/db';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';
import { buildSide, type Side } from './fixtures';

const SERVICES = ['auth', 'users', 'audit'] as const;
type Service = (typeof SERVICES)[number];

/**
 * Tables the application role may read although they have no RLS: they hold no tenant's data.
 */
const GLOBAL_READABLE: Record<string, string> = {
  'auth.tenants': 'the tenant directory itself (id, slug, status, settings): what every request needs to know about its tenant',
  'auth.inbox': 'consumer name and event id pairs: no tenant data',
  'users.inbox': 'consumer name and event id pairs: no tenant data',
  'audit.inbox': 'consumer name and event id pairs: no tenant data',
};

/** Schemas that are PostgreSQL's own, not a service's. */
const SYSTEM_SCHEMAS = `n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`;

interface TableInfo {
  schema: string;
  name: string;
  rls: boolean;
  force: boolean;
  owner: string;
  using: string | null;
  check: string | null;
  cmd: string | null;
  permissive: string | null;
  /** every policy on the table, as `name:PERMISSIVE|RESTRICTIVE` */
  policies: string[];
}

let h: TestSystem;
let A: Side;
let B: Side;

/** The service databases, each once (on PostgreSQL the three services share one database). */
async function distinctDatabases(): Promise<Database[]> {
  const seen = new Map<string, Database>();
  for (const service of SERVICES) {
    const db = h.databases[service];
    // PGlite: one database per service (all named "postgres"); PostgreSQL: by database name
    const name = (await sql<{ name: string }>`select current_database() as name`.execute(db.admin)).rows[0]!.name;
    const key = db.kind === 'pglite' ? `pglite:${service}` : name;
    if (!seen.has(key)) seen.set(key, db);
  }
  return [...seen.values()];
}

/**
 * Every ordinary or partitioned table with a `tenant_id` column, in every schema of the
 * database (system schemas aside), with its RLS facts, straight from pg_catalog.
 */
async function tenantTables(db: Database): Promise<TableInfo[]> {
  const rows = await sql<TableInfo>`
    select n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force,
           pg_get_userbyid(c.relowner) as owner,
           p.qual as using, p.with_check as check, p.cmd as cmd, p.permissive as permissive,
           array(select pp.policyname || ':' || pp.permissive from pg_policies pp
                 where pp.schemaname = n.nspname and pp.tablename = c.relname order by pp.policyname) as policies
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
    left join pg_policies p on p.schemaname = n.nspname and p.tablename = c.relname and p.policyname = 'tenant_isolation'
    where ${sql.raw(SYSTEM_SCHEMAS)} and c.relkind in ('r', 'p')
    order by n.nspname, c.relname`.execute(db.admin);
  return rows.rows;
}

/** The problems of one table with a tenant_id: empty when it follows docs/tenancy.md. */
function rlsProblems(t: TableInfo): string[] {
  const key = `${t.schema}.${t.name}`;
  const problems: string[] = [];
  if (!t.rls) problems.push(`${key}: ROW LEVEL SECURITY is not enabled`);
  if (!t.force) problems.push(`${key}: ROW LEVEL SECURITY is not forced (the owner would bypass it)`);
  if (t.owner === APP_ROLE) problems.push(`${key}: owned by the application role`);
  for (const p of t.policies) {
    if (p !== 'tenant_isolation:PERMISSIVE' && p.endsWith(':PERMISSIVE')) problems.push(`${key}: permissive policy ${p} besides tenant_isolation could widen it`);
  }
  if (!t.using) {
    problems.push(`${key}: no tenant_isolation policy`);
    return problems;
  }
  // as pg_policies deparses `tenant_id = ${TENANT_EXPR}` (rlsSql), whitespace and parentheses aside
  const normal = (e: string | null) => (e ?? '').replace(/[\s()]/g, '');
  const expected = `tenant_id=NULLIFcurrent_setting'app.tenant_id'::text,true,''::text::uuid`;
  if (normal(t.using) !== expected) problems.push(`${key}: USING is ${t.using}, not tenant_id = ${TENANT_EXPR}`);
  if (normal(t.check) !== expected) problems.push(`${key}: WITH CHECK is ${t.check}, not tenant_id = ${TENANT_EXPR}`);
  if (t.cmd !== 'ALL') problems.push(`${key}: the policy covers ${t.cmd} only`);
  if (t.permissive !== 'PERMISSIVE') problems.push(`${key}: tenant_isolation is ${t.permissive}, so alone it lets nothing through`);
  return problems;
}

/** Tables (and views) the application role can read, in every schema, with whether RLS is on. */
async function appReadable(db: Database): Promise<Array<{ name: string; rls: boolean }>> {
  const rows = await sql<{ name: string; rls: boolean }>`
    select n.nspname || '.' || c.relname as name, c.relrowsecurity as rls
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where ${sql.raw(SYSTEM_SCHEMAS)} and c.relkind in ('r', 'p', 'v', 'm')
      and has_table_privilege(${APP_ROLE}, c.oid, 'select')
    order by 1`.execute(db.admin);
  return rows.rows;
}

/** The tenant-owned tables of a service's own schema (every table with a tenant_id). */
async function rlsTables(db: Database): Promise<string[]> {
  return (await tenantTables(db)).filter((t) => t.schema === db.schema).map((t) => t.name);
}

const table = (db: Database, name: string) => sql.table(`${db.schema}.${name}`);

before(async () => {
  h = await startTestSystem({ baseDomain: BASE_DOMAIN });
  A = await buildSide(h, { label: 'ra', oauth: true });
  B = await buildSide(h, { label: 'rb', oauth: true });
});
after(async () => {
  await h?.close();
});

describe('RLS catalogue, read from every database and schema', () => {
  test('every table with tenant_id, in every schema, has ENABLE + FORCE RLS and only the tenant_isolation policy (USING and WITH CHECK)', async () => {
    const problems: string[] = [];
    const seen: string[] = [];
    for (const db of await distinctDatabases()) {
      for (const t of await tenantTables(db)) {
        seen.push(`${t.schema}.${t.name}`);
        problems.push(...rlsProblems(t));
      }
    }
    // not vacuous: every service schema was read, the tables this test once missed included
    for (const service of SERVICES) assert.ok(seen.some((k) => k.startsWith(`${service}.`)), `${service} has tables with tenant_id`);
    for (const key of ['audit.dead_letters', 'auth.sessions', 'auth.refresh_tokens', 'auth.one_time_tokens', 'users.profiles', 'audit.entries']) {
      assert.ok(seen.includes(key), `${key} is in the catalogue`);
    }
    assert.deepEqual(problems, [], 'see docs/tenancy.md for the pattern every table with a tenant_id follows');
  });

  test('the check catches a table without RLS, in any schema (a planted one, rolled back)', async () => {
    const db = h.databases.audit;
    const rollback = new Error('rollback');
    await assert.rejects(
      db.admin.transaction().execute(async (trx) => {
        await sql`create schema planted_elsewhere`.execute(trx);
        await sql`create table planted_elsewhere.things (id uuid primary key, tenant_id uuid not null)`.execute(trx);
        await sql`create table audit.planted_half (id uuid primary key, tenant_id uuid not null)`.execute(trx);
        await sql`alter table audit.planted_half enable row level security`.execute(trx);
        await sql.raw(`create policy tenant_isolation on audit.planted_half using (tenant_id = ${TENANT_EXPR}) with check (tenant_id = ${TENANT_EXPR})`).execute(trx);
        // the older form (app_tenant(), before the migrations 0011/0003) is no longer the pattern
        await sql`create table audit.planted_old (id uuid primary key, tenant_id uuid not null)`.execute(trx);
        await sql`alter table audit.planted_old enable row level security`.execute(trx);
        await sql`alter table audit.planted_old force row level security`.execute(trx);
        await sql`create policy tenant_isolation on audit.planted_old using (tenant_id = app_tenant()) with check (tenant_id = app_tenant())`.execute(trx);
        await sql`create policy everyone on audit.planted_half using (true)`.execute(trx);
        const rows = await sql<TableInfo>`
          select n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force,
                 pg_get_userbyid(c.relowner) as owner, p.qual as using, p.with_check as check, p.cmd as cmd, p.permissive as permissive,
                 array(select pp.policyname || ':' || pp.permissive from pg_policies pp
                       where pp.schemaname = n.nspname and pp.tablename = c.relname order by pp.policyname) as policies
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          left join pg_policies p on p.schemaname = n.nspname and p.tablename = c.relname and p.policyname = 'tenant_isolation'
          where (n.nspname, c.relname) in (('planted_elsewhere', 'things'), ('audit', 'planted_half'), ('audit', 'planted_old'))
          order by 1, 2`.execute(trx);
        const problems = rows.rows.flatMap(rlsProblems);
        assert.deepEqual(problems, [
          'audit.planted_half: ROW LEVEL SECURITY is not forced (the owner would bypass it)',
          'audit.planted_half: permissive policy everyone:PERMISSIVE besides tenant_isolation could widen it',
          'audit.planted_old: USING is (tenant_id = app_tenant()), not tenant_id = ' + TENANT_EXPR,
          'audit.planted_old: WITH CHECK is (tenant_id = app_tenant()), not tenant_id = ' + TENANT_EXPR,
          'planted_elsewhere.things: ROW LEVEL SECURITY is not enabled',
          'planted_elsewhere.things: ROW LEVEL SECURITY is not forced (the owner would bypass it)',
          'planted_elsewhere.things: no tenant_isolation policy',
        ]);
        throw rollback;
      }),
      (err) => err === rollback,
    );
  });

  test('the application role reads no table without RLS except the global ones, in any schema', async () => {
    const open: string[] = [];
    for (const db of await distinctDatabases()) open.push(...(await appReadable(db)).filter((t) => !t.rls).map((t) => t.name));
    assert.deepEqual(open.filter((t) => !GLOBAL_READABLE[t]), []);
  });

  test('the application role can neither log in, bypass RLS, nor act as a superuser', async () => {
    for (const service of SERVICES) {
      const r = await sql<{ rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>`
        select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = ${APP_ROLE}`.execute(h.databases[service].admin);
      assert.deepEqual(r.rows[0], { rolsuper: false, rolbypassrls: false, rolcanlogin: false }, service);
    }
  });
});

describe('unfiltered queries through the request path (withTenant) see one tenant only', () => {
  for (const service of SERVICES) {
    test(`${service}: select * without WHERE returns only the current tenant's rows, in every tenant-owned table`, async () => {
      const db = h.databases[service];
      const tables = await rlsTables(db);
      const seenA = new Map<string, number>();
      for (const side of [A, B]) {
        const other = side === A ? B : A;
        for (const name of tables) {
          const rows = await db.withTenant(side.tenant.id, async (trx) => (await sql<{ tenant_id: string }>`select * from ${table(db, name)}`.execute(trx)).rows);
          const foreign = rows.filter((r) => r.tenant_id !== side.tenant.id);
          assert.deepEqual(foreign, [], `${service}.${name} as ${side.slug} returned rows of ${other.slug} or another tenant`);
          if (side === A) seenA.set(name, rows.length);
        }
      }
      // tables every side fills must show rows to their own tenant (the proof is not vacuous)
      const filled: Record<Service, string[]> = {
        auth: ['users', 'sessions', 'refresh_tokens', 'one_time_tokens', 'mfa_totp', 'passkeys', 'oauth_providers'],
        users: ['profiles', 'events', 'attendance'],
        audit: ['entries'],
      };
      for (const name of filled[service]) {
        assert.ok(tables.includes(name), `${service}.${name} is a tenant-owned table`);
        assert.ok((seenA.get(name) ?? 0) > 0, `${service}.${name}: tenant A sees its own rows`);
        const bRows = await sql<{ n: number }>`select count(*)::int as n from ${table(db, name)} where tenant_id = ${B.tenant.id}`.execute(db.admin);
        assert.ok(bRows.rows[0]!.n > 0, `${service}.${name}: tenant B has rows A must not see`);
      }
    });

    test(`${service}: unfiltered update and delete touch only the current tenant's rows (rolled back)`, async () => {
      const db = h.databases[service];
      const tables = await rlsTables(db);
      const counts = async () => {
        const out: Record<string, number> = {};
        for (const name of tables) {
          const r = await sql<{ tenant_id: string; n: number }>`select tenant_id, count(*)::int as n from ${table(db, name)} group by tenant_id`.execute(db.admin);
          for (const row of r.rows) out[`${name}:${row.tenant_id}`] = row.n;
        }
        return out;
      };
      const before = await counts();
      const rollback = new Error('rollback');
      /** Runs one unfiltered statement as tenant A, checks what it returned, rolls it back. */
      const asA = async (name: string, statement: 'update' | 'delete') => {
        await assert.rejects(
          db.withTenant(A.tenant.id, async (trx) => {
            const q =
              statement === 'update'
                ? sql<{ tenant_id: string }>`update ${table(db, name)} set tenant_id = tenant_id returning tenant_id`
                : sql<{ tenant_id: string }>`delete from ${table(db, name)} returning tenant_id`;
            const rows = (await q.execute(trx)).rows;
            assert.ok(rows.every((r) => r.tenant_id === A.tenant.id), `${service}.${name}: ${statement} reached another tenant`);
            throw rollback;
          }),
          // 42501: the role may not update or delete here at all (audit entries are append-only)
          (err) => err === rollback || (err as { code?: string }).code === '42501',
          `${service}.${name} ${statement}`,
        );
      };
      for (const name of tables) {
        await asA(name, 'update');
        await asA(name, 'delete');
      }
      assert.deepEqual(await counts(), before, 'nothing changed: the statements saw one tenant and were rolled back');
    });
  }

  test('an insert naming another tenant is refused by WITH CHECK (users.events, auth.sessions)', async () => {
    const users = h.databases.users;
    await assert.rejects(
      users.withTenant(A.tenant.id, (trx) =>
        sql`insert into users.events (tenant_id, id, title, starts_at, ends_at, late_after_minutes, created_by)
            values (${B.tenant.id}, gen_random_uuid(), 'planted', now(), now() + interval '1 hour', 0, ${A.user.id})`.execute(trx),
      ),
      /row-level security/,
    );
    const auth = h.databases.auth;
    await assert.rejects(
      auth.withTenant(A.tenant.id, (trx) =>
        sql`insert into auth.sessions (id, tenant_id, user_id, expires_at, idle_expires_at)
            values (gen_random_uuid(), ${B.tenant.id}, ${B.user.id}, now() + interval '1 day', now() + interval '1 day')`.execute(trx),
      ),
      /row-level security|violates foreign key/,
    );
  });

  test('the application role with no tenant set sees no row at all', async () => {
    for (const service of SERVICES) {
      const db = h.databases[service];
      for (const name of await rlsTables(db)) {
        const n = await db.admin.transaction().execute(async (trx) => {
          await sql`select set_config('role', ${APP_ROLE}, true)`.execute(trx);
          return (await sql<{ n: number }>`select count(*)::int as n from ${table(db, name)}`.execute(trx)).rows[0]!.n;
        });
        assert.equal(n, 0, `${service}.${name}`);
      }
    }
  });
});
