/**
 * The second-factor gate every first factor goes through (password, federated login, a
 * passkey without user verification), and the completion at `POST /login/mfa`.
 *
 * - A user with TOTP gets `{mfaRequired, mfaToken, methods}` and never tokens for the first
 *   factor alone.
 * - In a tenant whose settings say `mfaRequired: true`, a user with neither TOTP nor a
 *   passkey gets `{mfaRequired, mfaToken, methods: [], enrollmentRequired: true}`; that token
 *   is good only as the bearer of TOTP setup/confirm, and the confirmation completes the
 *   sign-in. A user with a passkey there is told `methods: ['passkey']`: sign in with it.
 * - Otherwise the session is issued at once.
 *
 * Codes are checked once only: a TOTP time step is claimed with a conditional UPDATE, a
 * backup code is marked used the same way, so parallel copies of one code succeed once.
 * Attempts are throttled per user and client IP (scope `mfa`) and per MFA token, failing
 * closed when the limit store is down.
 */
import type { Logger } from 'pino';
import type { TokenResponse } from '@gatehouse/contracts';
import type { Database, Tx } from '../../db/schema';
import type { Emit } from '@gatehouse/platform/db';
import { authEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { SessionService } from '../sessions/sessions.service';
import type { Tenant, TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
import { findUserById, setLastLogin, type UserRow } from '../users/users.queries';
import { authErrors } from '../auth/auth.errors';
import { mfaErrors } from './mfa.errors';
import type { MfaSecrets } from './mfa.codes';
import { claimTotpStep, consumeBackupCode, findTotp, secondFactorsLead, toSecondFactors } from './mfa.queries';
import { MFA_TOKEN_TTL_SEC, type MfaTokenRecord, type MfaTokens } from './mfa.tokens';
import { matchTotp } from './mfa.totp';
import type { AuthMetrics } from '../../metrics';

/** The challenge a first factor answers with when a second one is due. */
export interface MfaChallenge {
  mfaRequired: true;
  mfaToken: string;
  methods: Array<'totp' | 'backup_code' | 'passkey'>;
  enrollmentRequired?: boolean;
  expiresIn: number;
}

/** What a first factor leads to. */
export type LoginResult = TokenResponse | MfaChallenge;

/** A second factor as `POST /login/mfa` receives it. */
export type SecondFactorInput = { code: string } | { backupCode: string };

export interface LoginGateDeps {
  db: Database;
  tokens: MfaTokens;
  secrets: MfaSecrets;
  sessions: SessionService;
  tenants: TenantService;
  throttle: Throttle;
  logger: Logger;
  metrics?: Pick<AuthMetrics, 'login' | 'mfa'>;
  /** clock in epoch ms (tests may move it) */
  now?: () => number;
}

/** True when the tenant's settings ask every user for a second factor. */
export function tenantRequiresMfa(tenant: Tenant): boolean {
  return tenant.settings.mfaRequired === true;
}

/** Creates the gate. */
export function createLoginGate(deps: LoginGateDeps) {
  const { db, tokens, secrets, sessions, tenants, throttle, logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  async function recordFailure(tenantId: string, ctx: RequestContext, userId: string, reason: string): Promise<void> {
    try {
      await db.withTenant(tenantId, (_trx, emit) => emit(authEvent('login_failed', tenantId, ctx, { userId, reason })));
    } catch (err) {
      logger.error({ err }, 'could not record a failed second factor');
    }
  }

  /** Issues a session inside a unit of work: last login, session, login_succeeded. */
  async function issueTx(trx: Tx, emit: Emit, tenant: Tenant, user: UserRow, amr: string[], ctx: RequestContext, method: string) {
    const row = (await setLastLogin(trx, user.id, new Date())) ?? user;
    const issued = await sessions.issue(trx, { tenantId: tenant.id, userId: user.id, amr, ctx, tenant });
    await emit(authEvent('login_succeeded', tenant.id, ctx, { userId: user.id, sessionId: issued.session.id, method }));
    return { row, issued };
  }

  /**
   * Checks a TOTP code or backup code of a user inside `trx` and uses it up. False for a
   * wrong, expired or already used one. `confirm` checks against the pending secret and
   * confirms it instead.
   */
  async function useFactor(trx: Tx, userId: string, input: SecondFactorInput, opts: { confirm?: boolean } = {}): Promise<boolean> {
    if ('backupCode' in input) {
      const hash = secrets.hashBackupCode(userId, input.backupCode);
      return hash !== undefined && (await consumeBackupCode(trx, userId, hash));
    }
    const totp = await findTotp(trx, userId);
    if (!totp || (totp.confirmed_at === null) !== Boolean(opts.confirm)) return false;
    const step = matchTotp(secrets.openSecret(totp.secret_sealed), input.code.trim(), now());
    if (step === undefined) return false;
    return claimTotpStep(trx, userId, step, { confirm: Boolean(opts.confirm) });
  }

  return {
    useFactor,
    issueTx,

    /** Issues a session for a sign-in that is multi-factor by itself (a passkey with user verification). */
    async issue(tenant: Tenant, user: UserRow, amr: string[], ctx: RequestContext, method: string): Promise<TokenResponse> {
      const { row, issued } = await db.withTenant(tenant.id, (trx, emit) => issueTx(trx, emit, tenant, user, amr, ctx, method));
      metrics?.login('success', method);
      return sessions.tokenResponse(tenant, row, issued);
    },

    /**
     * After a successful first factor: the tokens, or the challenge when a second factor is
     * due (see the module comment). `amr` is the first factor's (RFC 8176), `method` names it
     * in events.
     */
    async begin(tenant: Tenant, user: UserRow, amr: string[], ctx: RequestContext, method: string): Promise<LoginResult> {
      // One transaction: the factors and, when none is due, the session and the roles for the
      // access token (three transactions before: 14 round trips, then 8; now 7, the factors
      // riding the transaction's open).
      const mfaDue = tenantRequiresMfa(tenant) && !amr.includes('hwk');
      const out = await db.withTenantLed(tenant.id, secondFactorsLead(user.id), async (trx, emit, rows) => {
        const factors = toSecondFactors(rows[0]);
        if (factors.hasTotp || mfaDue) return { factors, signedIn: undefined };
        const { row, issued } = await issueTx(trx, emit, tenant, user, amr, ctx, method);
        return { factors, signedIn: { row, issued, current: await sessions.rolesNow(trx, row) } };
      });
      const done = out.signedIn;
      if (!done) {
        const { hasTotp, passkeys } = out.factors;
        const enrollment = !hasTotp && passkeys === 0;
        const methods: MfaChallenge['methods'] = hasTotp ? ['totp', 'backup_code'] : [];
        if (passkeys > 0) methods.push('passkey');
        const mfaToken = await tokens.issue({ tenantId: tenant.id, userId: user.id, amr, method, enrollment });
        metrics?.login('mfa_required', method);
        return { mfaRequired: true, mfaToken, methods, ...(enrollment ? { enrollmentRequired: true } : {}), expiresIn: MFA_TOKEN_TTL_SEC };
      }
      metrics?.login('success', method);
      return sessions.tokenResponse(tenant, done.row, done.issued, done.current);
    },

    /** `POST /login/mfa`: completes a login with a TOTP or backup code. */
    async complete(requestTenantId: string, mfaToken: string, input: SecondFactorInput, ctx: RequestContext): Promise<TokenResponse> {
      const rec = await tokens.peek(mfaToken);
      // an enrollment token only enrolls (the confirmation completes that sign-in)
      if (!rec || rec.tenantId !== requestTenantId || rec.enrollment) throw mfaErrors.invalidToken();
      const tenant = await tenants.requireActive(rec.tenantId);
      await tokens.attempt(mfaToken);
      // the client IP's check rides the reservation (one store call)
      const reservation = await throttle.reserve('mfa', tenant.id, `u:${rec.userId}`, { ip: ctx.ip });
      const method = 'backupCode' in input ? 'backup_code' : 'totp';
      const ok = await db.withTenant(tenant.id, (trx) => useFactor(trx, rec.userId, input));
      if (!ok) {
        await throttle.fail(reservation);
        await throttle.failIp('mfa', ctx.ip);
        metrics?.mfa('failure', method);
        await recordFailure(tenant.id, ctx, rec.userId, `wrong_${method}`);
        throw mfaErrors.invalidCodeLogin();
      }
      await throttle.succeed(reservation);
      metrics?.mfa('success', method);
      return this.finish(tenant, mfaToken, rec, ctx, method);
    },

    /**
     * Uses up the MFA token and issues the session with the second factor added to `amr`.
     * Of concurrent finishers with one token, one gets the session.
     */
    async finish(tenant: Tenant, mfaToken: string, rec: MfaTokenRecord, ctx: RequestContext, method: string): Promise<TokenResponse> {
      const taken = await tokens.take(mfaToken);
      if (!taken || taken.userId !== rec.userId) throw mfaErrors.invalidToken();
      const out = await db.withTenant(tenant.id, async (trx, emit) => {
        const user = await findUserById(trx, rec.userId);
        if (!user) return undefined;
        if (user.disabled_at !== null) return 'disabled' as const;
        return issueTx(trx, emit, tenant, user, [...new Set([...rec.amr, 'otp'])], ctx, `${rec.method}+${method}`);
      });
      if (out === undefined) throw mfaErrors.invalidToken();
      if (out === 'disabled') throw authErrors.accountDisabled();
      // the first factor's method: the sign-in it completes was counted as mfa_required
      metrics?.login('success', rec.method);
      return sessions.tokenResponse(tenant, out.row, out.issued);
    },
  };
}
export type LoginGate = ReturnType<typeof createLoginGate>;
