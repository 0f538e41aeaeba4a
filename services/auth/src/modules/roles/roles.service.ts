/**
 * Custom roles of a tenant: a name, a description and permissions. Users hold them beside the
 * built-in roles; access tokens carry the names (`roles`) and the union of the permissions
 * (`permissions`).
 *
 * How a change takes effect within a second, verification staying a local signature check
 * plus an in-memory lookup: every change that alters what a user's token should say (the
 * user's roles set by an admin, a role's permissions edited, a role deleted) cuts that user's
 * access tokens on the existing revocation feed (`emit.revokeUser`, after the commit). The
 * gateway and every service drop them within a second (pub/sub to each process's local copy);
 * the client's refresh token still works and its next access token is signed with the roles
 * and permissions read at that moment. Cuts have millisecond precision and tokens carry a
 * millisecond `iat` (keys.service), so a token refreshed right after the change, in the same
 * second, is not cut too. Alternatives weighed: a per-tenant "roles version" checked by the
 * gateway would need a second feed and a lookup per request; embedding nothing and reading
 * roles per request would put the database on the hot path. A cut per affected user costs one
 * entry per holder for the access-token lifetime, which for a role edit in a large tenant is
 * a burst of entries but stays far below what the list holds (see platform/revocation.ts).
 */
import type { AccessClaims } from '@gatehouse/platform/auth';
import type { Emit } from '@gatehouse/platform/db';
import { iso } from '@gatehouse/platform/formats';
import type { Database, Tx } from '../../db/schema';
import type { RequestContext } from '../../context';
import { authEvent, userEvent } from '../../events';
import { ROLES } from '../users/users.service';
import { findUserById } from '../users/users.queries';
import { eventUser } from '../users/users.service';
import { roleErrors } from './roles.errors';
import { deleteRole, existingRoleNames, findRole, insertRole, listRoles, removeRoleFromUsers, updateRole, usersWithRole, type RoleRow } from './roles.queries';
import type { Role } from './roles.schemas';

const BUILTIN = new Set<string>(ROLES);

/** True for user, organizer, admin and superadmin. */
export function isBuiltinRole(name: string): boolean {
  return BUILTIN.has(name);
}

function toRole(r: RoleRow): Role {
  return { name: r.name, description: r.description, permissions: r.permissions, builtin: false, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) };
}

const builtinRoles: Role[] = ROLES.map((name) => ({ name, description: null, permissions: [], builtin: true, createdAt: null, updatedAt: null }));

/**
 * Checks that every custom name in `roles` is a role of the current tenant (inside its
 * transaction); 400 `validation_failed` at `path` otherwise.
 */
export async function assertAssignable(trx: Tx, roles: readonly string[], path: string): Promise<void> {
  const custom = roles.filter((r) => !isBuiltinRole(r));
  if (custom.length === 0) return;
  const found = await existingRoleNames(trx, custom);
  const missing = custom.filter((r) => !found.has(r));
  if (missing.length) throw roleErrors.unknown(path, missing);
}

/** Cuts the access tokens of these users (after the commit) and tells the replicas their roles changed. */
async function refreshHolders(trx: Tx, emit: Emit, tenantId: string, userIds: readonly string[], rolesChanged: boolean): Promise<void> {
  for (const id of userIds) {
    emit.revokeUser(id);
    if (rolesChanged) {
      const row = await findUserById(trx, id);
      if (row) await emit(userEvent('updated', tenantId, eventUser(row)));
    }
  }
}

/** Creates the role service. */
export function createRoleService({ db }: { db: Database }) {
  return {
    async list(tenantId: string): Promise<{ items: Role[] }> {
      const rows = await db.withTenant(tenantId, (trx) => listRoles(trx));
      return { items: [...builtinRoles, ...rows.map(toRole)] };
    },

    async create(actor: AccessClaims, input: { name: string; description?: string | null; permissions: string[] }, ctx: RequestContext): Promise<Role> {
      if (isBuiltinRole(input.name)) throw roleErrors.exists(input.name);
      const row = await db.withTenant(actor.tid, async (trx, emit) => {
        if (await findRole(trx, input.name)) throw roleErrors.exists(input.name);
        let row: RoleRow;
        try {
          row = await insertRole(trx, { tenant_id: actor.tid, name: input.name, description: input.description ?? null, permissions: [...input.permissions].sort() });
        } catch (err) {
          if ((err as { code?: string }).code === '23505') throw roleErrors.exists(input.name);
          throw err;
        }
        await emit(authEvent('role_created', actor.tid, ctx, { actorId: actor.sub, role: input.name }));
        return row;
      });
      return toRole(row);
    },

    /** Edits a role; its holders' tokens are cut when the permissions changed. */
    async update(actor: AccessClaims, name: string, patch: { description?: string | null; permissions?: string[] }, ctx: RequestContext): Promise<Role> {
      if (isBuiltinRole(name)) throw roleErrors.builtin(name);
      const row = await db.withTenant(actor.tid, async (trx, emit) => {
        const current = await findRole(trx, name, true);
        if (!current) throw roleErrors.notFound();
        const permissions = patch.permissions ? [...patch.permissions].sort() : undefined;
        const permsChanged = permissions !== undefined && permissions.join('\n') !== current.permissions.join('\n');
        const set: { description?: string | null; permissions?: string[] } = {};
        if (patch.description !== undefined && patch.description !== current.description) set.description = patch.description;
        if (permsChanged) set.permissions = permissions;
        if (Object.keys(set).length === 0) return current;
        const row = (await updateRole(trx, name, set))!;
        if (permsChanged) await refreshHolders(trx, emit, actor.tid, await usersWithRole(trx, name), false);
        await emit(authEvent('role_updated', actor.tid, ctx, { actorId: actor.sub, role: name }));
        return row;
      });
      return toRole(row);
    },

    /** Deletes a role: it is taken from every holder, whose tokens are cut. */
    async remove(actor: AccessClaims, name: string, ctx: RequestContext): Promise<void> {
      if (isBuiltinRole(name)) throw roleErrors.builtin(name);
      await db.withTenant(actor.tid, async (trx, emit) => {
        if (!(await findRole(trx, name, true))) throw roleErrors.notFound();
        const holders = await removeRoleFromUsers(trx, name);
        await deleteRole(trx, name);
        await refreshHolders(trx, emit, actor.tid, holders, true);
        await emit(authEvent('role_deleted', actor.tid, ctx, { actorId: actor.sub, role: name }));
      });
    },
  };
}
export type RoleService = ReturnType<typeof createRoleService>;
