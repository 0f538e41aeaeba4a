/** Custom roles of a tenant (inside `withTenant`: RLS scopes every query to it). */
import { sql } from 'kysely';
import { preparedQuery } from '@gatehouse/platform/prepared';
import type { Db, RoleRow, Tx } from '../../db/schema';

export type { RoleRow } from '../../db/schema';

/** The tenant's custom roles by name. */
export async function listRoles(trx: Tx): Promise<RoleRow[]> {
  return trx.selectFrom('roles').selectAll().orderBy('name').execute();
}

/** One custom role; `forUpdate` locks it for the rest of the transaction. */
export async function findRole(trx: Tx, name: string, forUpdate = false): Promise<RoleRow | undefined> {
  let q = trx.selectFrom('roles').selectAll().where('name', '=', name);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Inserts a role; a duplicate name raises a unique violation (23505). */
export async function insertRole(trx: Tx, row: { tenant_id: string; name: string; description: string | null; permissions: string[] }): Promise<RoleRow> {
  return trx.insertInto('roles').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function updateRole(trx: Tx, name: string, set: { description?: string | null; permissions?: string[] }): Promise<RoleRow | undefined> {
  return trx
    .updateTable('roles')
    .set({ ...set, updated_at: sql<Date>`now()` })
    .where('name', '=', name)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteRole(trx: Tx, name: string): Promise<boolean> {
  const r = await trx.deleteFrom('roles').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Ids of the users holding a role (GIN index users_roles). */
export async function usersWithRole(trx: Tx, name: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('users')
    .select('id')
    .where(sql<boolean>`roles @> array[${name}]::text[]`)
    .execute();
  return rows.map((r) => r.id);
}

/** Takes a role away from every user holding it; returns their ids. */
export async function removeRoleFromUsers(trx: Tx, name: string): Promise<string[]> {
  const rows = await trx
    .updateTable('users')
    .set({ roles: sql<string[]>`array_remove(roles, ${name})`, updated_at: sql<Date>`now()` })
    .where(sql<boolean>`roles @> array[${name}]::text[]`)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Which of these names are custom roles of the tenant. */
export async function existingRoleNames(trx: Tx, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await trx.selectFrom('roles').select('name').where('name', 'in', [...names]).execute();
  return new Set(rows.map((r) => r.name));
}

/**
 * A user's current roles and the union of their permissions, read in one statement (the
 * token issuer reads them afresh for every access token, see sessions.service).
 */
export async function rolesAndPermissions(trx: Tx, userId: string): Promise<{ roles: string[]; permissions: string[] } | undefined> {
  const [row] = await rolesQuery.run(trx, { userId });
  return row ? { roles: row.roles, permissions: row.permissions } : undefined;
}

// read at every login and token response: compiled once (platform/prepared.ts)
const rolesQuery = preparedQuery((db: Db, p: { userId: string }) =>
  db
    .selectFrom('users as u')
    .select([
      'u.roles',
      sql<string[]>`coalesce((select array_agg(distinct p order by p) from roles r, unnest(r.permissions) p where r.name = any(u.roles)), '{}')`.as('permissions'),
    ])
    .where('u.id', '=', p.userId),
);
