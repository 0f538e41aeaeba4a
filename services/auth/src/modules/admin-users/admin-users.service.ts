/**
 * Admin user management within the admin's own tenant (RLS enforces the boundary; a user of
 * another tenant is simply not found). Disabling and deleting revoke the user's sessions in
 * the database and on the shared revocation list at once. Role changes reach access tokens at
 * the next refresh, which re-reads roles (at most the access-token lifetime later).
 */
import type { User } from '@gatehouse/contracts';
import type { AccessClaims } from '@gatehouse/platform/auth';
import type { Database, UserUpdate } from '../../db/schema';
import type { CloudEvent } from '@gatehouse/platform/events';
import { authEvent, userEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { SessionService } from '../sessions/sessions.service';
import { deleteUser, findUserById, updateUser, type UserRow } from '../users/users.queries';
import { eventUser, normalizeRoles, toUser } from '../users/users.service';
import { adminUserErrors } from './admin-users.errors';
import { searchUsers } from './admin-users.queries';
import { decodeCursor, encodeCursor } from '@gatehouse/platform/formats';

/** A list cursor (platform codec), or 400 `invalid_cursor`. */
function readCursor(cursor: string): { ts: string; id: string } {
  const c = decodeCursor(cursor);
  if (!c) throw adminUserErrors.badCursor();
  return { ts: c.key, id: c.id };
}

export interface AdminUserServiceDeps {
  db: Database;
  sessions: SessionService;
}

/** Creates the admin user service. */
export function createAdminUserService(deps: AdminUserServiceDeps) {
  const { db, sessions } = deps;

  function guardTarget(actor: AccessClaims, target: UserRow): void {
    if (target.roles.includes('superadmin') && !actor.roles.includes('superadmin')) throw adminUserErrors.superadminOnly();
  }

  return {
    async list(tenantId: string, q: { query?: string; cursor?: string; limit?: number }): Promise<{ items: User[]; nextCursor: string | null }> {
      const limit = q.limit ?? 50;
      const after = q.cursor ? readCursor(q.cursor) : undefined;
      const rows = await db.withTenant(tenantId, (trx) => searchUsers(trx, { query: q.query?.trim() || undefined, after, limit: limit + 1 }));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => toUser(r, { withDisabled: true })),
        nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null,
      };
    },

    async get(tenantId: string, id: string): Promise<User> {
      const row = await db.withTenant(tenantId, (trx) => findUserById(trx, id));
      if (!row) throw adminUserErrors.notFound();
      return toUser(row, { withDisabled: true });
    },

    async patch(
      actor: AccessClaims,
      id: string,
      patch: { disabled?: boolean; roles?: string[]; emailVerified?: boolean },
      ctx: RequestContext,
    ): Promise<User> {
      const tenantId = actor.tid;
      const self = actor.sub === id;
      const row = await db.withTenant(tenantId, async (trx, emit) => {
        const target = await findUserById(trx, id);
        if (!target) throw adminUserErrors.notFound();
        guardTarget(actor, target);
        const set: UserUpdate = {};
        if (patch.roles !== undefined) {
          const roles = normalizeRoles(patch.roles);
          const grantsOrDropsSuper = roles.includes('superadmin') !== target.roles.includes('superadmin');
          if (grantsOrDropsSuper && !actor.roles.includes('superadmin')) throw adminUserErrors.superadminOnly();
          if (self && !roles.includes('admin') && !roles.includes('superadmin')) throw adminUserErrors.selfLockout();
          if (self && target.roles.includes('superadmin') && !roles.includes('superadmin')) throw adminUserErrors.selfLockout();
          set.roles = roles;
        }
        if (patch.disabled !== undefined) {
          if (self && patch.disabled) throw adminUserErrors.selfLockout();
          if (patch.disabled !== (target.disabled_at !== null)) set.disabled_at = patch.disabled ? new Date() : null;
        }
        if (patch.emailVerified !== undefined && patch.emailVerified !== (target.email_verified_at !== null)) {
          set.email_verified_at = patch.emailVerified ? new Date() : null;
        }
        if (Object.keys(set).length === 0) return target;
        const row = (await updateUser(trx, id, set))!;
        const events: CloudEvent[] = [userEvent('updated', tenantId, eventUser(row))];
        if (set.disabled_at instanceof Date) {
          await sessions.revokeAllTx(trx, emit, id, 'user_disabled');
          emit.revokeUser(id);
          events.push(authEvent('session_revoked', tenantId, ctx, { userId: id, reason: 'user_disabled' }));
        }
        await emit(...events);
        return row;
      });
      return toUser(row, { withDisabled: true });
    },

    async remove(actor: AccessClaims, id: string, ctx: RequestContext): Promise<void> {
      if (actor.sub === id) throw adminUserErrors.selfLockout();
      await db.withTenant(actor.tid, async (trx, emit) => {
        const target = await findUserById(trx, id);
        if (!target) throw adminUserErrors.notFound();
        guardTarget(actor, target);
        await sessions.revokeAllTx(trx, emit, id, 'user_deleted');
        emit.revokeUser(id);
        await deleteUser(trx, id);
        await emit(userEvent('deleted', actor.tid, eventUser(target)), authEvent('session_revoked', actor.tid, ctx, { userId: id, reason: 'user_deleted' }));
      });
    },

    async revokeSessions(actor: AccessClaims, id: string, ctx: RequestContext): Promise<void> {
      const target = await db.withTenant(actor.tid, (trx) => findUserById(trx, id));
      if (!target) throw adminUserErrors.notFound();
      guardTarget(actor, target);
      await sessions.revokeAll(actor.tid, id, ctx, 'admin_revoked', 'session_revoked');
    },
  };
}
export type AdminUserService = ReturnType<typeof createAdminUserService>;
