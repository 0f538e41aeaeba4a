/**
 * The schema side of the database: the application role, the SQL every tenant-owned table's
 * migration uses (`rlsSql`, `TENANT_EXPR`), the platform's own tables, and the migration runner
 * (`migrateSchema`, behind `Database.migrate` in db.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { SharedPGlite } from './pglite';

/** The unprivileged role every tenant-scoped transaction runs as. */
export const APP_ROLE = 'gatehouse_app';

/**
 * The current tenant in a policy: `app.tenant_id` as a uuid, NULL (no row matches) when unset
 * or empty. The body of `app_tenant()`, written out: a SQL function in a policy is inlined, so
 * its body is fetched, parsed and analysed again every time a statement is planned, which cost
 * more than the rest of the policy (services' migrations 0011/0003, docs/database.md).
 */
export const TENANT_EXPR = `nullif(current_setting('app.tenant_id', true), '')::uuid`;

/**
 * The role is cluster-wide, so several databases (or test runs) may race to create it;
 * a duplicate is fine. It cannot log in and has no BYPASSRLS; the connecting owner switches
 * to it, so the owner must be a member unless it is a superuser.
 */
const ensureAppRoleSql = `do $$ begin
  if not exists (select 1 from pg_roles where rolname = '${APP_ROLE}') then
    create role ${APP_ROLE} nologin nobypassrls;
  end if;
exception when duplicate_object or unique_violation then null;
end $$;
do $$ begin
  if not (select rolsuper from pg_roles where rolname = current_user) then
    execute format('grant ${APP_ROLE} to %I', current_user);
  end if;
exception when others then null;
end $$;`;

/** Tables every service has: the transactional outbox, the consumer inbox, and the RLS helper. */
function platformSql(schema: string): string {
  return `
    create or replace function ${schema}.app_tenant() returns uuid language sql stable as
      $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;
    grant execute on function ${schema}.app_tenant() to ${APP_ROLE};
    create table ${schema}.outbox (
      id uuid primary key,
      subject text not null,
      payload jsonb not null,
      created_at timestamptz not null default now(),
      published_at timestamptz,
      attempts int not null default 0,
      last_error text
    );
    create index outbox_pending on ${schema}.outbox (created_at) where published_at is null;
    grant insert on ${schema}.outbox to ${APP_ROLE};
    create table ${schema}.inbox (
      consumer text not null,
      event_id text not null,
      processed_at timestamptz not null default now(),
      primary key (consumer, event_id)
    );
    grant select, insert on ${schema}.inbox to ${APP_ROLE};
  `;
}

/**
 * SQL that puts a tenant-owned table under row-level security. Use it in every migration that
 * creates such a table, e.g. `select 1;` is not enough: paste the output of `rlsSql('users')`.
 */
export function rlsSql(table: string): string {
  return `alter table ${table} enable row level security;
alter table ${table} force row level security;
create policy tenant_isolation on ${table} using (tenant_id = ${TENANT_EXPR}) with check (tenant_id = ${TENANT_EXPR});`;
}

/** The migrations of `dir` (and the platform's own, first) whose names are not in `done`, with their SQL. */
async function pending(schema: string, dir: string, done: Set<string>): Promise<Array<[string, string]>> {
  // A missing directory is a packaging error, not "nothing to do": applying only the
  // platform prelude would start a service on tables that do not exist.
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`migrations directory ${dir} cannot be read (${err.code ?? err.message})`, { cause: err });
  });
  const files = names.filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const all: Array<[string, string]> = [['0000_platform.sql', platformSql(schema)]];
  for (const f of files) all.push([f, await readFile(path.join(dir, f), 'utf8')]);
  return all.filter(([name]) => !done.has(name));
}

/**
 * Applies the numbered .sql files in `dir` not applied yet to `schema`, after the platform's
 * prelude (the schema, the application role, the migrations table) and its own tables
 * (`0000_platform.sql`): under an advisory lock on PostgreSQL, holding PGlite's one connection
 * there. Returns the names applied. `Database.migrate` (db.ts).
 */
export async function migrateSchema<DB>(o: { schema: string; admin: Kysely<DB>; shared?: SharedPGlite; logger: Logger }, dir: string): Promise<string[]> {
  const { schema, admin, shared } = o;
  const prelude = [
    `create schema if not exists ${schema}`,
    ensureAppRoleSql,
    `grant usage on schema ${schema} to ${APP_ROLE}`,
    `create table if not exists ${schema}.schema_migrations (name text primary key, applied_at timestamptz not null default now())`,
  ];
  const applied: string[] = [];
  if (shared) {
    // PGlite is one connection in this process: holding it is the lock (other services of
    // the process wait their turn), and multi-statement scripts must go through exec (the
    // simple query protocol), which Kysely's driver does not use.
    const files = await pending(schema, dir, new Set());
    return shared.exclusive(schema, async (db) => {
      for (const stmt of prelude) await db.exec(stmt);
      const done = new Set((await db.query<{ name: string }>(`select name from ${schema}.schema_migrations`)).rows.map((r) => r.name));
      for (const [name, text] of files.filter(([n]) => !done.has(n))) {
        await db.transaction(async (tx) => {
          await tx.exec(`set local search_path to ${schema}, public;\n${text}`);
          await tx.query(`insert into ${schema}.schema_migrations (name) values ($1)`, [name]);
        });
        applied.push(name);
        o.logger.info({ schema, migration: name }, 'migration applied');
      }
      return applied;
    });
  }
  // A dedicated connection holds the advisory lock, so replicas starting together wait their turn.
  await admin.connection().execute(async (conn) => {
    const lockKey = `gatehouse:migrate:${schema}`;
    await sql`select pg_advisory_lock(hashtext(${lockKey}))`.execute(conn);
    try {
      for (const stmt of prelude) await sql.raw(stmt).execute(conn);
      const done = new Set(
        (await sql<{ name: string }>`select name from ${sql.table(`${schema}.schema_migrations`)}`.execute(conn)).rows.map((r) => r.name),
      );
      for (const [name, text] of await pending(schema, dir, done)) {
        await conn.transaction().execute(async (trx) => {
          await sql.raw(`set local search_path to ${schema}, public`).execute(trx);
          await sql.raw(text).execute(trx);
          await sql`insert into ${sql.table(`${schema}.schema_migrations`)} (name) values (${name})`.execute(trx);
        });
        applied.push(name);
        o.logger.info({ schema, migration: name }, 'migration applied');
      }
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${lockKey}))`.execute(conn);
    }
  });
  return applied;
}
