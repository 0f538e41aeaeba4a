/**
 * Admin user management within the admin's own tenant (RLS enforces the boundary; a user of
 * another tenant is simply not found). Disabling and deleting revoke the user's sessions in
 * the database and on the shared revocation list at once. A role change cuts the user's access
 * tokens on the revocation feed, so the next request refreshes and carries the new roles and
 * permissions within a second (roles.service explains the design). Admins create accounts
 * with a password, or invite: a single-use set-password link (72 h) by email.
 */
import type { User } from '@gatehouse/contracts';
import type { AccessClaims } from '@gatehouse/platform/auth';
import type { Database, UserUpdate } from '../../db/schema';
import type { CloudEvent } from '@gatehouse/platform/events';
import { authEvent, userEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { SessionService } from '../sessions/sessions.service';
import { deleteUser, findUserById, updateUser, type UserRow } from '../users/users.queries';
import { eventUser, insertAccount, mapUniqueViolation, normalizeRoles, toUser } from '../users/users.service';
import { assertAssignable } from '../roles/roles.service';
import type { PasswordHasher } from '../passwords/passwords.service';
import { checkPasswordPolicy } from '../passwords/passwords.policy';
import { INVITE_TTL_SEC, RESET_TTL_SEC, type RecoveryService } from '../recovery/recovery.service';
import { passwordMinLength, type TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
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
  recovery: RecoveryService;
  hasher: PasswordHasher;
  tenants: TenantService;
  throttle: Throttle;
}

/** `POST /api/v1/admin/users`. */
export interface AdminUserCreate {
  email: string;
  username?: string | null;
  displayName?: string | null;
  roles?: string[];
  password?: string;
}

/** Creates the admin user service. */
export function createAdminUserService(deps: AdminUserServiceDeps) {
  const { db, sessions, recovery, hasher, tenants, throttle } = deps;

  function guardTarget(actor: AccessClaims, target: UserRow): void {
    if (target.roles.includes('superadmin') && !actor.roles.includes('superadmin')) throw adminUserErrors.superadminOnly();
  }

  return {
    /**
     * Creates an account: with `password` it can sign in at once; without, it gets an
     * invitation email whose single-use link (72 h) opens the set-password page.
     */
    async create(actor: AccessClaims, input: AdminUserCreate, ctx: RequestContext): Promise<User> {
      const tenant = await tenants.requireActive(actor.tid);
      const email = input.email.trim();
      const roles = normalizeRoles(input.roles ?? []);
      if (roles.includes('superadmin') && !actor.roles.includes('superadmin')) throw adminUserErrors.superadminOnly();
      let passwordHash: string | null = null;
      if (input.password !== undefined) {
        await checkPasswordPolicy(input.password, { minLength: passwordMinLength(tenant), email, username: input.username });
        passwordHash = await hasher.hash(input.password);
      }
      let created: { row: UserRow; token?: string };
      try {
        created = await db.withTenant(tenant.id, async (trx, emit) => {
          await assertAssignable(trx, roles, 'body.roles');
          const row = await insertAccount(trx, emit, {
            tenantId: tenant.id,
            email,
            username: input.username ?? null,
            displayName: input.displayName ?? null,
            roles,
            passwordHash,
          });
          if (passwordHash !== null) return { row };
          const token = await recovery.issueResetTx(trx, tenant.id, row.id, INVITE_TTL_SEC);
          await emit(authEvent('user_invited', tenant.id, ctx, { userId: row.id, actorId: actor.sub }));
          return { row, token };
        });
      } catch (err) {
        mapUniqueViolation(err);
      }
      if (created.token) recovery.sendPasswordLink('invite', created.row.email, created.token, tenant.name);
      return toUser(created.row, { withDisabled: true });
    },

    /** Emails the user a password-reset link (30 min); 202 whatever the mail server does. */
    async sendPasswordReset(actor: AccessClaims, id: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(actor.tid);
      // the same per-account mail limit as `POST /password/forgot`
      await throttle.limit('admin-reset', tenant.id, id, 5, 3600);
      const sent = await db.withTenant(tenant.id, async (trx, emit) => {
        const target = await findUserById(trx, id);
        if (!target) throw adminUserErrors.notFound();
        guardTarget(actor, target);
        if (target.disabled_at !== null) throw adminUserErrors.disabled();
        const token = await recovery.issueResetTx(trx, tenant.id, id, RESET_TTL_SEC);
        await emit(authEvent('password_reset_sent', tenant.id, ctx, { userId: id, actorId: actor.sub }));
        return { to: target.email, token };
      });
      recovery.sendPasswordLink('reset', sent.to, sent.token, tenant.name);
    },

    async list(
      tenantId: string,
      q: { query?: string; match?: 'contains' | 'prefix'; role?: string; status?: 'active' | 'disabled'; verified?: boolean; cursor?: string; limit?: number },
    ): Promise<{ items: User[]; nextCursor: string | null }> {
      const limit = q.limit ?? 50;
      const after = q.cursor ? readCursor(q.cursor) : undefined;
      const rows = await db.withTenant(tenantId, (trx) =>
        searchUsers(trx, { query: q.query?.trim() || undefined, match: q.match, role: q.role, status: q.status, verified: q.verified, after, limit: limit + 1 }),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => toUser(r, { withDisabled: true })),
        nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null,
      };
    },

    async get(tenantId: string, id: string): Promise<User> {
      const row = await db.withTenantRead(tenantId, (trx) => findUserById(trx, id));
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
          await assertAssignable(trx, roles, 'body.roles');
          if (roles.join('\n') !== target.roles.join('\n')) set.roles = roles;
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
        // new roles: the user's tokens are cut now; the next refresh carries the new ones
        if (set.roles) emit.revokeUser(id);
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
      const target = await db.withTenantRead(actor.tid, (trx) => findUserById(trx, id));
      if (!target) throw adminUserErrors.notFound();
      guardTarget(actor, target);
      await sessions.revokeAll(actor.tid, id, ctx, 'admin_revoked', 'session_revoked');
    },

    /** The user's active sessions (`current` marks the admin's own session, when it is the user's). */
    async listSessions(actor: AccessClaims, id: string) {
      const target = await db.withTenantRead(actor.tid, (trx) => findUserById(trx, id));
      if (!target) throw adminUserErrors.notFound();
      guardTarget(actor, target);
      return sessions.list(actor.tid, id, actor.sid);
    },

    /** Revokes one session of the user (404 `not_found` when it is not theirs or already ended). */
    async revokeSession(actor: AccessClaims, id: string, sessionId: string, ctx: RequestContext): Promise<void> {
      const target = await db.withTenantRead(actor.tid, (trx) => findUserById(trx, id));
      if (!target) throw adminUserErrors.notFound();
      guardTarget(actor, target);
      await sessions.revokeOne(actor.tid, id, sessionId, ctx, 'session_revoked');
    },
  };
}
export type AdminUserService = ReturnType<typeof createAdminUserService>;
