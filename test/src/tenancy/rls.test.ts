/**
 * Row-level security, proven in the database of every service (auth, users, audit) on the
 * database the run has (PostgreSQL, or PGlite):
 *
 * - the catalogue: every table of a service schema with a `tenant_id` column has ENABLE and
 *   FORCE ROW LEVEL SECURITY and the `tenant_isolation` policy on `tenant_id = app_tenant()`
 *   (USING and WITH CHECK); the application role is no superuser, has no BYPASSRLS, owns no
 *   table, and can read no table without RLS except the listed global ones. A table added
 *   without RLS fails here.
 * - the behaviour: deliberately unfiltered `select *`, `update` and `delete` run through each
 *   service's own `withTenant` (the request path) see and touch only that tenant's rows; an
 *   insert naming another tenant is refused; with no tenant set nothing is visible.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { APP_ROLE, type Database } from '@gatehouse/platform/db';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';
import { buildSide, type Side } from './fixtures';

const SERVICES = ['auth', 'users', 'audit'] as const;
type Service = (typeof SERVICES)[number];

/**
 * Tables with a `tenant_id` column that are deliberately not tenant-owned: none of them may be
 * readable or writable by the application role (checked below).
 */
const NOT_TENANT_OWNED: Record<string, string> = {
  'audit.dead_letters': 'messages that could not become entries: their tenant id is unknown or not trusted; only the owner reads them',
};

/**
 * Tables the application role may read although they have no RLS: they hold no tenant's data.
 */
const GLOBAL_READABLE: Record<string, string> = {
  'auth.tenants': 'the tenant directory itself (id, slug, status, settings): what every request needs to know about its tenant',
  'auth.inbox': 'consumer name and event id pairs: no tenant data',
  'users.inbox': 'consumer name and event id pairs: no tenant data',
  'audit.inbox': 'consumer name and event id pairs: no tenant data',
};

interface TableInfo {
  name: string;
  rls: boolean;
  force: boolean;
  owner: string;
  using: string | null;
  check: string | null;
  cmd: string | null;
  roles: string | null;
  appSelect: boolean;
  appWrite: boolean;
}

let h: TestSystem;
let A: Side;
let B: Side;

/** Every ordinary table of the service's schema with a tenant_id column, with its RLS facts. */
async function tenantTables(db: Database): Promise<TableInfo[]> {
  const rows = await sql<TableInfo>`
    select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force,
           pg_get_userbyid(c.relowner) as owner,
           p.qual as using, p.with_check as check, p.cmd as cmd, array_to_string(p.roles, ',') as roles,
           has_table_privilege(${APP_ROLE}, c.oid, 'select') as "appSelect",
           (has_table_privilege(${APP_ROLE}, c.oid, 'insert') or has_table_privilege(${APP_ROLE}, c.oid, 'update')
             or has_table_privilege(${APP_ROLE}, c.oid, 'delete')) as "appWrite"
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
    left join pg_policies p on p.schemaname = n.nspname and p.tablename = c.relname and p.policyname = 'tenant_isolation'
    where n.nspname = ${db.schema} and c.relkind in ('r', 'p')
    order by c.relname`.execute(db.admin);
  return rows.rows;
}

/** Tables the application role can read, with whether RLS is on. */
async function appReadable(db: Database): Promise<Array<{ name: string; rls: boolean }>> {
  const rows = await sql<{ name: string; rls: boolean }>`
    select c.relname as name, c.relrowsecurity as rls
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${db.schema} and c.relkind in ('r', 'p', 'v', 'm')
      and has_table_privilege(${APP_ROLE}, c.oid, 'select')
    order by c.relname`.execute(db.admin);
  return rows.rows;
}

/** The tenant-owned tables (RLS on) of a service. */
async function rlsTables(db: Database): Promise<string[]> {
  return (await tenantTables(db)).filter((t) => t.rls && !NOT_TENANT_OWNED[`${db.schema}.${t.name}`]).map((t) => t.name);
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

describe('RLS catalogue of every service schema', () => {
  for (const service of SERVICES) {
    test(`${service}: every table with tenant_id has ENABLE + FORCE RLS and the tenant_isolation policy (USING and WITH CHECK)`, async () => {
      const db = h.databases[service];
      const tables = await tenantTables(db);
      assert.ok(tables.length > 0, `${service} has tenant-owned tables`);
      const problems: string[] = [];
      for (const t of tables) {
        const key = `${db.schema}.${t.name}`;
        if (NOT_TENANT_OWNED[key]) {
          if (t.appSelect || t.appWrite) problems.push(`${key}: not tenant-owned, yet the application role may read or write it`);
          continue;
        }
        if (!t.rls) problems.push(`${key}: ROW LEVEL SECURITY is not enabled`);
        if (!t.force) problems.push(`${key}: ROW LEVEL SECURITY is not forced (the owner would bypass it)`);
        if (!t.using) {
          problems.push(`${key}: no tenant_isolation policy`);
          continue;
        }
        const normal = (e: string | null) => (e ?? '').replace(/[\s()]/g, '');
        if (normal(t.using) !== 'tenant_id=app_tenant') problems.push(`${key}: USING is ${t.using}, not tenant_id = app_tenant()`);
        if (normal(t.check) !== 'tenant_id=app_tenant') problems.push(`${key}: WITH CHECK is ${t.check}, not tenant_id = app_tenant()`);
        if (t.cmd !== 'ALL') problems.push(`${key}: the policy covers ${t.cmd} only`);
        if (t.owner === APP_ROLE) problems.push(`${key}: owned by the application role`);
      }
      assert.deepEqual(problems, [], `see docs/tenancy.md for the pattern every tenant-owned table follows`);
    });

    test(`${service}: the application role reads no table without RLS except the global ones`, async () => {
      const db = h.databases[service];
      const open = (await appReadable(db)).filter((t) => !t.rls).map((t) => `${db.schema}.${t.name}`);
      assert.deepEqual(open.filter((t) => !GLOBAL_READABLE[t]), []);
    });
  }

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
