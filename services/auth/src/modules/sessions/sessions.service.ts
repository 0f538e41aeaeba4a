/**
 * Sessions: creation at login, refresh-token rotation with reuse detection, listing and
 * revocation. A revocation is written to the database (so the refresh token dies) and, after
 * the commit, to the shared revocation list (so access tokens of the session fail everywhere
 * within a second instead of living until they expire).
 */
import { randomUUID } from 'node:crypto';
import type { TokenResponse } from '@gatehouse/contracts';
import type { Config } from '@gatehouse/platform/config';
import type { Emit } from '@gatehouse/platform/db';
import type { Database, Tx } from '../../db/schema';
import { randomToken, sha256 } from '@gatehouse/platform/crypto';
import { authEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { KeyService } from '../keys/keys.service';
import { tenantErrors } from '../tenants/tenants.errors';
import { findTenantSettings } from '../tenants/tenants.queries';
import { accessTtlSec, MAX_TENANT_ACCESS_TTL_SEC, refreshIdleSec, toTenant, type Tenant, type TenantService } from '../tenants/tenants.service';
import { findUserById, type UserRow } from '../users/users.queries';
import { rolesAndPermissions } from '../roles/roles.queries';
import { toUser } from '../users/users.service';
import { sessionErrors } from './sessions.errors';
import type { AuthMetrics } from '../../metrics';
import {
  consumeRefreshToken,
  findActiveSession,
  findRefreshTenant,
  findRefreshWithTenant,
  insertRefreshToken,
  insertSession,
  listActiveSessions,
  revokeSessions,
  rotateRefreshToken,
  touchSession,
  type SessionRow,
} from './sessions.queries';

/** A new session's id and its first refresh token (returned once, stored only hashed). */
export interface IssuedSession {
  session: SessionRow;
  refreshToken: string;
}

/** Roles and permissions for an access token, and the moment taken before they were read. */
export interface CurrentRoles {
  roles: string[];
  permissions: string[];
  issuedAtMs: number;
}

export interface SessionServiceDeps {
  db: Database;
  keys: KeyService;
  tenants: TenantService;
  tokens: Config['tokens'];
  metrics?: Pick<AuthMetrics, 'refreshRotated' | 'refreshReused'>;
}

/** Creates the session service. */
export function createSessionService(deps: SessionServiceDeps) {
  const { db, keys, tokens, metrics } = deps;
  /** How long a revocation must be remembered: the longest an access token can live, plus clock skew. */
  const revocationTtlMs = (Math.max(tokens.accessTtlSec, MAX_TENANT_ACCESS_TTL_SEC) + 60) * 1000;

  function refreshExpiresIn(s: Pick<SessionRow, 'expires_at' | 'idle_expires_at'>): number {
    const until = Math.min(new Date(s.idle_expires_at).getTime(), new Date(s.expires_at).getTime());
    return Math.max(0, Math.floor((until - Date.now()) / 1000));
  }

  /** Signs the access token for roles and permissions read no earlier than `issuedAtMs`. */
  async function signResponse(
    tenant: Tenant,
    user: UserRow,
    issued: { session: Pick<SessionRow, 'id' | 'amr' | 'expires_at' | 'idle_expires_at'>; refreshToken: string },
    current: { roles: string[]; permissions: string[] },
    issuedAtMs: number,
  ): Promise<TokenResponse> {
    const { roles, permissions } = current;
    const { token, expiresIn } = await keys.sign(
      { sub: user.id, tid: tenant.id, sid: issued.session.id, roles, permissions, amr: issued.session.amr, issuedAtMs },
      accessTtlSec(tenant, tokens.accessTtlSec),
    );
    return {
      tokenType: 'Bearer',
      accessToken: token,
      expiresIn,
      refreshToken: issued.refreshToken,
      refreshExpiresIn: refreshExpiresIn(issued.session),
      user: toUser({ ...user, roles }),
    };
  }

  return {
    revocationTtlMs,

    /** Creates a session and its first refresh token inside the caller's transaction. */
    async issue(trx: Tx, input: { tenantId: string; userId: string; amr: string[]; ctx: RequestContext; tenant?: Pick<Tenant, 'settings'> }): Promise<IssuedSession> {
      // the tenant's idle lifetime (settings.refreshTokenTtlSec): from the tenant the caller
      // read for this request (as refresh does), else read in this transaction
      const settings = input.tenant ? input.tenant.settings : ((await findTenantSettings(trx, input.tenantId)) ?? {});
      const idleSec = refreshIdleSec({ settings }, tokens.refreshIdleSec);
      const session = await insertSession(trx, {
        id: randomUUID(),
        tenant_id: input.tenantId,
        user_id: input.userId,
        ip: input.ctx.ip || null,
        user_agent: input.ctx.userAgent,
        amr: input.amr,
        absoluteSec: tokens.refreshAbsoluteSec,
        idleSec,
      });
      const refreshToken = randomToken(32);
      await insertRefreshToken(trx, { token_hash: sha256(refreshToken), tenant_id: input.tenantId, session_id: session.id });
      return { session, refreshToken };
    },

    /**
     * The TokenResponse for a session: a fresh access token with the user's roles and
     * permissions as they are now. The moment is taken before they are read: a role change
     * that commits after the read cuts this token too (its iat is before the cut), so a token
     * never outlives a cut with roles older than it (roles.service).
     */
    async tokenResponse(tenant: Tenant, user: UserRow, issued: IssuedSession, read?: CurrentRoles): Promise<TokenResponse> {
      if (read) return signResponse(tenant, user, issued, read, read.issuedAtMs);
      const issuedAtMs = Date.now();
      const current = await db.withTenant(tenant.id, (trx) => rolesAndPermissions(trx, user.id));
      return signResponse(tenant, user, issued, current ?? { roles: user.roles, permissions: [] }, issuedAtMs);
    },

    /**
     * {@link tokenResponse}'s read of the roles inside the caller's transaction (the one that
     * issued the session: no transaction of its own), the moment taken before the read.
     */
    async rolesNow(trx: Tx, user: Pick<UserRow, 'id' | 'roles'>): Promise<CurrentRoles> {
      const issuedAtMs = Date.now();
      const current = await rolesAndPermissions(trx, user.id);
      return { ...(current ?? { roles: user.roles, permissions: [] }), issuedAtMs };
    },

    /**
     * Rotates a refresh token. A token already used revokes its whole session (401
     * `refresh_token_reused`): either it was stolen or this is a lost race, and of concurrent
     * refreshes with one token at most one succeeds. Roles come from the database, so a role
     * change reaches the access token at the next refresh.
     */
    async refresh(refreshToken: string, ctx: RequestContext, requestTenantId?: string): Promise<{ tenant: Tenant; response: TokenResponse }> {
      if (!refreshToken || refreshToken.length > 128) throw sessionErrors.invalidRefresh();
      const hash = sha256(refreshToken);
      // token and tenant in one round trip (they were two: findRefreshTenant, tenants.resolve)
      const row = await findRefreshWithTenant(db.admin, hash);
      if (!row) throw sessionErrors.invalidRefresh();
      const found = { tenant_id: row.id, session_id: row.session_id };
      if (requestTenantId !== undefined && requestTenantId !== found.tenant_id) throw sessionErrors.invalidRefresh();
      const tenant = toTenant(row);
      // a disabled tenant answers as at login and at the gateway (its sessions were revoked too)
      if (tenant.status !== 'active') throw tenantErrors.notFound();

      // The plain case in one statement (rotateRefreshToken) inside BEGIN ... COMMIT: 3 round
      // trips in all with the lookup above (withTenant's BEGIN travels with the statement),
      // instead of 12. The moment is taken before the roles
      // are read (see tokenResponse). Anything else rolls back and takes the path below.
      const next = randomToken(32);
      const issuedAtMs = Date.now();
      const idleSec = refreshIdleSec(tenant, tokens.refreshIdleSec);
      const notPlain = new Error('refresh: not the plain case');
      const fast = await db
        .withTenant(tenant.id, async (trx) => {
          const rotated = await rotateRefreshToken(trx, { tokenHash: hash, nextHash: sha256(next), idleSec, ip: ctx.ip || null });
          if (!rotated) throw notPlain; // rolls the consumption back; the slow path redoes it
          return rotated;
        })
        .catch((err: unknown) => {
          if (err === notPlain) return undefined;
          throw err;
        });
      if (fast) {
        metrics?.refreshRotated();
        const { permissions, s_amr, s_expires_at, s_idle_expires_at, ...user } = fast;
        const session = { id: found.session_id, amr: s_amr, expires_at: s_expires_at, idle_expires_at: s_idle_expires_at };
        return { tenant, response: await signResponse(tenant, user, { session, refreshToken: next }, { roles: user.roles, permissions }, issuedAtMs) };
      }

      type Outcome = { kind: 'ok'; user: UserRow; issued: IssuedSession } | { kind: 'reused' } | { kind: 'invalid' };
      const outcome: Outcome = await db.withTenant(tenant.id, async (trx, emit) => {
        const sessionId = await consumeRefreshToken(trx, hash);
        if (!sessionId) {
          const revoked = await revokeSessions(trx, { sessionId: found.session_id }, 'refresh_token_reused');
          const owner = revoked[0]?.user_id;
          await emit(authEvent('refresh_token_reused', tenant.id, ctx, { userId: owner, sessionId: found.session_id, reason: 'refresh_token_reused' }));
          emit.revokeSessions(revoked.map((r) => r.id));
          return { kind: 'reused' };
        }
        const session = await findActiveSession(trx, sessionId);
        if (!session) return { kind: 'invalid' };
        const user = await findUserById(trx, session.user_id);
        if (!user || user.disabled_at !== null) {
          const revoked = await revokeSessions(trx, { sessionId }, 'user_disabled');
          emit.revokeSessions(revoked.map((r) => r.id));
          return { kind: 'invalid' };
        }
        const next = randomToken(32);
        await insertRefreshToken(trx, { token_hash: sha256(next), tenant_id: tenant.id, session_id: sessionId });
        const touched = await touchSession(trx, sessionId, refreshIdleSec(tenant, tokens.refreshIdleSec), ctx.ip || null);
        return { kind: 'ok', user, issued: { session: touched, refreshToken: next } };
      });
      if (outcome.kind === 'reused') metrics?.refreshReused();
      if (outcome.kind !== 'ok') {
        throw outcome.kind === 'reused' ? sessionErrors.refreshReused() : sessionErrors.invalidRefresh();
      }
      metrics?.refreshRotated();
      return { tenant, response: await this.tokenResponse(tenant, outcome.user, outcome.issued) };
    },

    /**
     * Logout by refresh token (a browser in cookie mode whose access token is gone): revokes the
     * token's session. Unknown or foreign tokens do nothing; logout is idempotent.
     */
    async revokeByRefreshToken(refreshToken: string, ctx: RequestContext, requestTenantId?: string): Promise<void> {
      if (!refreshToken || refreshToken.length > 128) return;
      // globally unique hash, tenant not known yet: owner connection (see findRefreshTenant)
      const found = await findRefreshTenant(db.admin, sha256(refreshToken));
      if (!found || (requestTenantId !== undefined && requestTenantId !== found.tenant_id)) return;
      await db.withTenant(found.tenant_id, async (trx, emit) => {
        const rows = await revokeSessions(trx, { sessionId: found.session_id }, 'logout');
        const userId = rows[0]?.user_id;
        if (userId) await emit(authEvent('logout', found.tenant_id, ctx, { userId, sessionId: found.session_id, reason: 'logout' }));
        emit.revokeSessions(rows.map((r) => r.id));
      });
    },

    /** Revokes one session of a user (logout, `DELETE /sessions/{id}`); 404 when it is not theirs or not active. */
    async revokeOne(
      tenantId: string,
      userId: string,
      sessionId: string,
      ctx: RequestContext,
      event: 'logout' | 'session_revoked',
    ): Promise<void> {
      await db.withTenant(tenantId, async (trx, emit) => {
        const rows = await revokeSessions(trx, { userId, sessionId }, event);
        if (rows.length === 0) throw sessionErrors.notFound();
        await emit(authEvent(event, tenantId, ctx, { userId, sessionId, reason: event }));
        emit.revokeSessions(rows.map((r) => r.id));
      });
    },

    /**
     * Revokes a user's sessions inside the caller's unit of work (all, or all but one): the
     * access tokens fail everywhere once it commits. Returns how many.
     */
    async revokeAllTx(trx: Tx, emit: Emit, userId: string, reason: string, exceptSessionId?: string): Promise<number> {
      const ids = (await revokeSessions(trx, { userId, exceptSessionId }, reason)).map((r) => r.id);
      emit.revokeSessions(ids);
      return ids.length;
    },

    /** Revokes every session of a user (logout-all, admin); emits one `session_revoked`. */
    async revokeAll(tenantId: string, userId: string, ctx: RequestContext, reason: string, event: 'logout' | 'session_revoked'): Promise<number> {
      return db.withTenant(tenantId, async (trx, emit) => {
        const n = await this.revokeAllTx(trx, emit, userId, reason);
        await emit(authEvent(event, tenantId, ctx, { userId, reason }));
        return n;
      });
    },

    /** A user's active sessions. */
    async list(tenantId: string, userId: string, currentSessionId: string) {
      const rows = await db.withTenant(tenantId, (trx) => listActiveSessions(trx, userId));
      return rows.map((s) => ({
        id: s.id,
        current: s.id === currentSessionId,
        createdAt: new Date(s.created_at).toISOString(),
        lastUsedAt: new Date(s.last_used_at).toISOString(),
        ip: s.ip,
        userAgent: s.user_agent,
      }));
    },
  };
}
export type SessionService = ReturnType<typeof createSessionService>;
