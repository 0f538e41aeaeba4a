/**
 * `tenants` is a global table (it is what tenant ids point to, not tenant-owned data): lookups
 * and superadmin changes run on the owner connection, the tenant being looked up or managed
 * rather than known. The application role has SELECT on it, so code inside `withTenant` can
 * read its own tenant's settings ({@link findTenantSettings}).
 */
import { sql } from 'kysely';
import { preparedQuery } from '@gatehouse/platform/prepared';
import { allColumns } from '@gatehouse/platform/schema';
import { columns, type Db, type TenantRow, type Tx } from '../../db/schema';

export type { TenantRow } from '../../db/schema';

/** The tenant with this id, any status. */
export async function findTenantById(db: Db, id: string): Promise<TenantRow | undefined> {
  return (await byIdQuery.run(db, { id }))[0];
}

// read at every login (tenants.requireActive): compiled once, a named statement (platform/prepared.ts)
const byIdQuery = preparedQuery((db: Db, p: { id: string }) => db.selectFrom('tenants').select(allColumns(columns.tenants)).where('id', '=', p.id));

/** The tenant with this slug, any status. */
export async function findTenantBySlug(db: Db, slug: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst();
}

/** The settings of a tenant, read inside the caller's (tenant) transaction. */
export async function findTenantSettings(trx: Tx, id: string): Promise<Record<string, unknown> | undefined> {
  const row = await trx.selectFrom('tenants').select('settings').where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  return row.settings;
}

/** Inserts a tenant; a duplicate slug raises the unique violation `tenants_slug_key`. */
export async function insertTenant(trx: Tx, t: { id: string; slug: string; name: string; settings: object }): Promise<TenantRow> {
  return trx
    .insertInto('tenants')
    .values({ id: t.id, slug: t.slug, name: t.name, settings: JSON.stringify(t.settings) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The tenant, locked until the transaction ends, so concurrent changes apply one after the other. */
export async function lockTenant(trx: Tx, id: string): Promise<TenantRow | undefined> {
  return trx.selectFrom('tenants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Updates name, status and/or settings. */
export async function updateTenant(
  trx: Tx,
  id: string,
  set: { name?: string; status?: 'active' | 'disabled'; settings?: object },
): Promise<TenantRow> {
  // undefined values are left out of the SET list (Kysely skips them)
  return trx
    .updateTable('tenants')
    .set({
      name: set.name,
      status: set.status,
      settings: set.settings === undefined ? undefined : JSON.stringify(set.settings),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Escapes LIKE wildcards so a search for "a_b%" is literal. */
function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Tenants ordered by (created_at, id) after the cursor, optionally by status and slug/name substring. */
export async function listTenantRows(
  db: Db,
  opts: { status?: 'active' | 'disabled'; query?: string; after?: { ts: string; id: string }; limit: number },
): Promise<Array<TenantRow & { cursor_ts: string }>> {
  let q = db
    .selectFrom('tenants')
    .selectAll()
    // microsecond precision in the cursor: a JavaScript Date would cut it to milliseconds and skip rows
    .select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursor_ts'));
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.query) {
    const pattern = `%${likeLiteral(opts.query.toLowerCase())}%`;
    q = q.where((eb) => eb.or([eb('slug', 'like', pattern), eb(sql`lower(name)`, 'like', pattern)]));
  }
  if (opts.after) q = q.where(sql<boolean>`(created_at, id) > (${opts.after.ts}::timestamptz, ${opts.after.id}::uuid)`);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).execute();
}

/**
 * Revokes every active session of the tenant set for the transaction (`app.tenant_id`);
 * returns how many. The explicit `tenant_id` filter and the policy agree: belt and braces.
 */
export async function revokeTenantSessions(trx: Tx, tenantId: string, reason: string): Promise<number> {
  const rows = await trx
    .updateTable('sessions')
    .set({ revoked_at: sql<Date>`now()`, revoke_reason: reason })
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute();
  return rows.length;
}

/** Sets `app.tenant_id` for the rest of the transaction, so owner-connection work on tenant rows passes the RLS policies. */
export async function scopeToTenant(trx: Tx, tenantId: string): Promise<void> {
  await sql`select set_config('app.tenant_id', ${tenantId}, true)`.execute(trx);
}
