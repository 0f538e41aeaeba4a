/**
 * Registration, password login, logout and the current user.
 *
 * Login never tells an unknown account from a wrong password: the same status, body and
 * work (the same lookup, an argon2 verification against a dummy hash computed at start, the
 * same throttle writes and the same login_failed event), and the same throttling (per typed
 * identifier when no account matches). A disabled account is revealed only after its correct
 * password. `npm run bench` measures the two paths' latencies under concurrent load.
 */
import type { Logger } from 'pino';
import type { TokenResponse, User } from '@gatehouse/contracts';
import type { Database } from '../../db/schema';
import { authEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { PasswordHasher } from '../passwords/passwords.service';
import { checkPasswordPolicy } from '../passwords/passwords.policy';
import type { RecoveryService } from '../recovery/recovery.service';
import type { CurrentRoles, SessionService } from '../sessions/sessions.service';
import { assertSelfRegistration, passwordMinLength, type TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
import { findUserByEmail, findUserById, findUserByUsername, updateUser, type UserRow } from '../users/users.queries';
import { insertAccount, mapUniqueViolation, toUser } from '../users/users.service';
import { userErrors } from '../users/users.errors';
import type { LoginGate, LoginResult } from '../mfa/mfa.login';
import { authErrors } from './auth.errors';
import type { AuthMetrics } from '../../metrics';

export interface AuthServiceDeps {
  db: Database;
  hasher: PasswordHasher;
  throttle: Throttle;
  tenants: TenantService;
  sessions: SessionService;
  recovery: RecoveryService;
  /** the second-factor gate every successful first factor goes through */
  gate: LoginGate;
  logger: Logger;
  metrics?: Pick<AuthMetrics, 'login'>;
}

/** Creates the auth service. */
export function createAuthFlows(deps: AuthServiceDeps) {
  const { db, hasher, throttle, tenants, sessions, recovery, gate, logger, metrics } = deps;

  /** login_failed has no other transaction to ride in, so it gets its own small one. */
  async function recordLoginFailed(tenantId: string, ctx: RequestContext, userId: string | undefined, reason: string): Promise<void> {
    try {
      await db.withTenant(tenantId, (_trx, emit) => emit(authEvent('login_failed', tenantId, ctx, { userId, reason })));
    } catch (err) {
      logger.error({ err }, 'could not record a failed login');
    }
  }

  return {
    /** `POST /register`: creates the account and a session; sends a verification email. */
    async register(
      tenantId: string,
      input: { email: string; password: string; username?: string; displayName?: string },
      ctx: RequestContext,
    ): Promise<TokenResponse> {
      const tenant = await tenants.requireActive(tenantId);
      assertSelfRegistration(tenant);
      const email = input.email.trim();
      await checkPasswordPolicy(input.password, { minLength: passwordMinLength(tenant), email, username: input.username });
      const passwordHash = await hasher.hash(input.password);
      let created: { user: UserRow; issued: Awaited<ReturnType<SessionService['issue']>>; verifyToken: string; current: CurrentRoles };
      try {
        created = await db.withTenant(tenant.id, async (trx, emit) => {
          const user = await insertAccount(trx, emit, {
            tenantId: tenant.id,
            email,
            password: input.password,
            passwordHash,
            username: input.username ?? null,
            displayName: input.displayName?.trim() || null,
            roles: ['user'],
          });
          const issued = await sessions.issue(trx, { tenantId: tenant.id, userId: user.id, amr: ['pwd'], ctx, tenant });
          const verifyToken = await recovery.issueVerificationTx(trx, tenant.id, user.id);
          await emit(authEvent('login_succeeded', tenant.id, ctx, { userId: user.id, sessionId: issued.session.id, reason: 'registration' }));
          // the roles for the access token in this transaction too (not one of their own)
          return { user, issued, verifyToken, current: await sessions.rolesNow(trx, user) };
        });
      } catch (err) {
        mapUniqueViolation(err);
      }
      recovery.sendVerification(created.user.email, created.verifyToken);
      return sessions.tokenResponse(tenant, created.user, created.issued, created.current);
    },

    /**
     * `POST /login` with the email or the username and the password: tokens, or the MFA
     * challenge when the user has a second factor or the tenant requires one.
     */
    async login(tenantId: string, input: { email?: string; username?: string; password: string }, ctx: RequestContext): Promise<LoginResult> {
      const tenant = await tenants.requireActive(tenantId);
      const identifier = (input.email ?? input.username ?? '').trim();
      if (!identifier) throw authErrors.identifierRequired();
      // The lookup and the verification share one slot of the bounded hashing queue, so a burst
      // is shed (503 + Retry-After) before it piles up on the database pool. An unknown account
      // takes the very path of a known one: one lookup, one reservation, one verification
      // (against the dummy hash), then one failure count and one login_failed event. The client
      // IP's check rides the reservation (one store call): a throttled IP costs the lookup, never
      // a verification.
      const { user, reservation, ok } = await hasher.check(async (verifyAccount) => {
        const found = await db.withTenant(tenant.id, (trx) =>
          input.email !== undefined && identifier.includes('@') ? findUserByEmail(trx, identifier) : findUserByUsername(trx, identifier),
        );
        const r = await throttle.reserve('password', tenant.id, found ? `u:${found.id}` : `i:${identifier.toLowerCase()}`, {
          ip: ctx.ip,
          onAccountRefused: () => metrics?.login('locked', 'password'),
        });
        return { user: found, reservation: r, ok: await verifyAccount(found, input.password) };
      });
      if (!user || !ok) {
        await throttle.fail(reservation);
        await throttle.failIp('password', ctx.ip);
        metrics?.login('failure', 'password');
        await recordLoginFailed(tenant.id, ctx, user?.id, user ? 'wrong_password' : 'unknown_user');
        throw authErrors.invalidCredentials();
      }
      await throttle.succeed(reservation);
      if (user.disabled_at !== null) {
        metrics?.login('disabled', 'password');
        await recordLoginFailed(tenant.id, ctx, user.id, 'account_disabled');
        throw authErrors.accountDisabled();
      }
      // an imported or older hash is replaced now that the password is known to be right
      if (hasher.needsRehash(user.password_hash!)) {
        const rehash = await hasher.hash(input.password);
        await db.withTenant(tenant.id, (trx) => updateUser(trx, user.id, { password_hash: rehash }));
      }
      // the password is one factor: the gate issues tokens, or asks for (or to enroll) a second
      return gate.begin(tenant, user, ['pwd'], ctx, 'password');
    },

    /** `GET /me`. */
    async me(tenantId: string, userId: string): Promise<User> {
      const row = await db.withTenantRead(tenantId, (trx) => findUserById(trx, userId));
      if (!row) throw userErrors.notFound();
      return toUser(row);
    },
  };
}
export type AuthFlows = ReturnType<typeof createAuthFlows>;
