/**
 * Password change, forgot/reset, and email verification. Reset and verification tokens are
 * 256-bit random, stored as sha256, single use (reset 30 min, verification 24 h), and travel
 * only in the email: never in a response, a log line or an event. Every path is throttled
 * per client IP and per account (ASVS 6.3.4).
 */
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Database, Tx } from '../../db/schema';
import { randomToken, sha256 } from '@gatehouse/platform/crypto';
import type { Mailer } from '@gatehouse/platform/mail';
import { authEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { Background } from '../../background';
import type { PasswordHasher } from '../passwords/passwords.service';
import { checkPasswordPolicy } from '../passwords/passwords.policy';
import type { SessionService } from '../sessions/sessions.service';
import { passwordMinLength, type TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
import { findUserByEmail, findUserById, updateUser, type UserRow } from '../users/users.queries';
import { recoveryErrors } from './recovery.errors';
import { consumeOneTimeToken, insertOneTimeToken, voidOneTimeTokens } from './recovery.queries';

export const RESET_TTL_SEC = 30 * 60;
export const VERIFY_TTL_SEC = 24 * 3600;
/** an administrator's invitation: the set-password link lives 72 hours */
export const INVITE_TTL_SEC = 72 * 3600;
/** forgot-password and resend requests per account per hour */
const MAIL_PER_HOUR = 5;

export interface RecoveryServiceDeps {
  db: Database;
  hasher: PasswordHasher;
  throttle: Throttle;
  tenants: TenantService;
  sessions: SessionService;
  mailer: Mailer;
  background: Background;
  publicUrl: string;
  logger: Logger;
}

/** Creates the recovery service. */
export function createRecoveryService(deps: RecoveryServiceDeps) {
  const { db, hasher, throttle, tenants, sessions, mailer, background, logger } = deps;

  async function sendMail(to: string, subject: string, text: string): Promise<void> {
    try {
      await mailer.send({ to, subject, text });
    } catch (err) {
      // the address came from the account; a failed send is the mail server's problem, not the caller's
      logger.warn({ err }, 'could not send mail');
    }
  }

  return {
    /** Creates a verification token in the caller's transaction (older ones voided). Returns the raw token for the email. */
    async issueVerificationTx(trx: Tx, tenantId: string, userId: string): Promise<string> {
      await voidOneTimeTokens(trx, userId, 'verify_email');
      const token = randomToken(32);
      await insertOneTimeToken(trx, { token_hash: sha256(token), tenant_id: tenantId, user_id: userId, purpose: 'verify_email', ttlSec: VERIFY_TTL_SEC });
      return token;
    },

    /**
     * A set-password token in the caller's transaction (older ones voided): the reset token
     * of `POST /password/reset`, so an invitation and an admin-sent reset reuse the reset
     * page and its checks. Returns the raw token for the email.
     */
    async issueResetTx(trx: Tx, tenantId: string, userId: string, ttlSec: number): Promise<string> {
      await voidOneTimeTokens(trx, userId, 'reset_password');
      const token = randomToken(32);
      await insertOneTimeToken(trx, { token_hash: sha256(token), tenant_id: tenantId, user_id: userId, purpose: 'reset_password', ttlSec });
      return token;
    },

    /** Emails a set-password link: an invitation (72 h) or a reset an admin asked for (30 min). */
    sendPasswordLink(kind: 'invite' | 'reset', email: string, token: string, tenantName: string): void {
      const link = `${deps.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
      const [subject, text] =
        kind === 'invite'
          ? [
              `You are invited to ${tenantName}`,
              `An administrator of ${tenantName} created an account for you. Choose your password by opening this link within 72 hours (it works once):\n\n${link}\n\nThen sign in with this email address.`,
            ]
          : [
              'Reset your password',
              `An administrator asked for a password reset of your account. Open this link within 30 minutes to choose a new password:\n\n${link}\n\nIf you did not expect this, ask your administrator.`,
            ];
      background.run(kind === 'invite' ? 'invitation-email' : 'admin-reset-email', () => sendMail(email, subject, text));
    },

    /** Sends a message in the background (email change links and notices). */
    sendNotice(email: string, subject: string, text: string, what: string): void {
      background.run(what, () => sendMail(email, subject, text));
    },

    /** Sends the verification email (in the background: the response does not wait for SMTP). */
    sendVerification(email: string, token: string): void {
      const link = `${deps.publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
      background.run('verification-email', () =>
        sendMail(email, 'Verify your email address', `Confirm your email address by opening this link within 24 hours:\n\n${link}\n\nIf you did not create an account, ignore this message.`),
      );
    },

    /** `POST /password/forgot`: always 202; the lookup and the email happen off the response path. */
    async forgot(tenantId: string, email: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      // counted per typed address, existing or not, so the limit reveals nothing either; the
      // client IP's check rides the count (one store call)
      await throttle.limit('forgot', tenant.id, email.trim().toLowerCase(), MAIL_PER_HOUR, 3600, { ip: ctx.ip });
      await throttle.failIp('forgot', ctx.ip);
      background.run('forgot-password', async () => {
        const sent = await db.withTenant(tenant.id, async (trx) => {
          const user = await findUserByEmail(trx, email.trim());
          if (!user || user.disabled_at !== null) return undefined;
          await voidOneTimeTokens(trx, user.id, 'reset_password');
          const token = randomToken(32);
          await insertOneTimeToken(trx, { token_hash: sha256(token), tenant_id: tenant.id, user_id: user.id, purpose: 'reset_password', ttlSec: RESET_TTL_SEC });
          return { to: user.email, token };
        });
        if (!sent) return;
        const link = `${deps.publicUrl}/reset-password?token=${encodeURIComponent(sent.token)}`;
        await sendMail(
          sent.to,
          'Reset your password',
          `Someone asked to reset the password of your account. Open this link within 30 minutes to choose a new one:\n\n${link}\n\nIf it was not you, ignore this message: your password stays as it is.`,
        );
      });
    },

    /** `POST /password/reset`: sets the password, revokes every session; never returns tokens. */
    async reset(tenantId: string, token: string, newPassword: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      await throttle.checkIp('reset', ctx.ip);
      const hash = sha256(token);
      // Look first, consume later: a weak new password must not burn the token.
      const user = await db.withTenant(tenant.id, async (trx) => {
        const row = await trx
          .selectFrom('one_time_tokens')
          .select('user_id')
          .where('token_hash', '=', hash)
          .where('purpose', '=', 'reset_password')
          .where('used_at', 'is', null)
          .where('expires_at', '>', sql<Date>`now()`)
          .executeTakeFirst();
        return row ? findUserById(trx, row.user_id) : undefined;
      });
      if (!user || user.disabled_at !== null) {
        await throttle.failIp('reset', ctx.ip);
        throw recoveryErrors.invalidToken();
      }
      await throttle.limit('reset', tenant.id, user.id, 10, 3600);
      await checkPasswordPolicy(newPassword, { minLength: passwordMinLength(tenant), email: user.email, username: user.username });
      const passwordHash = await hasher.hash(newPassword);
      const done = await db.withTenant(tenant.id, async (trx, emit) => {
        const userId = await consumeOneTimeToken(trx, hash, 'reset_password');
        if (userId !== user.id) return false;
        // the reset link reached the mailbox, so the address is proven too
        await updateUser(trx, user.id, { password_hash: passwordHash, email_verified_at: user.email_verified_at ?? new Date() });
        await voidOneTimeTokens(trx, user.id, 'reset_password');
        await sessions.revokeAllTx(trx, emit, user.id, 'password_reset');
        await emit(authEvent('password_reset', tenant.id, ctx, { userId: user.id, reason: 'password_reset' }));
        return true;
      });
      if (!done) {
        await throttle.failIp('reset', ctx.ip);
        throw recoveryErrors.invalidToken();
      }
    },

    /** `POST /email/verify`. */
    async verifyEmail(tenantId: string, token: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      await throttle.checkIp('verify', ctx.ip);
      const ok = await db.withTenant(tenant.id, async (trx, emit) => {
        const userId = await consumeOneTimeToken(trx, sha256(token), 'verify_email');
        if (!userId) return false;
        await updateUser(trx, userId, { email_verified_at: new Date() });
        await emit(authEvent('email_verified', tenant.id, ctx, { userId }));
        return true;
      });
      if (!ok) {
        await throttle.failIp('verify', ctx.ip);
        throw recoveryErrors.invalidToken();
      }
    },

    /** `POST /email/verify/resend`: a new link unless the address is verified already. */
    async resendVerification(tenantId: string, userId: string): Promise<void> {
      await throttle.limit('resend', tenantId, userId, MAIL_PER_HOUR, 3600);
      const sent = await db.withTenant(tenantId, async (trx) => {
        const user = await findUserById(trx, userId);
        if (!user || user.email_verified_at !== null || user.disabled_at !== null) return undefined;
        return { to: user.email, token: await this.issueVerificationTx(trx, tenantId, userId) };
      });
      if (sent) this.sendVerification(sent.to, sent.token);
    },

    /** `POST /password/change`: needs the current password (throttled like a login); revokes the other sessions. */
    async changePassword(
      tenantId: string,
      userId: string,
      currentSessionId: string,
      input: { currentPassword: string; newPassword: string },
      ctx: RequestContext,
    ): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      const user: UserRow | undefined = await db.withTenantRead(tenant.id, (trx) => findUserById(trx, userId));
      if (!user) throw recoveryErrors.invalidCredentials();
      // the same counter as the login: both guess the same secret (the client IP's check rides it)
      const reservation = await throttle.reserve('password', tenant.id, `u:${user.id}`, { ip: ctx.ip });
      const ok = await hasher.verifyAccount(user, input.currentPassword);
      if (!ok) {
        await throttle.fail(reservation);
        await throttle.failIp('password', ctx.ip);
        throw recoveryErrors.invalidCredentials();
      }
      await throttle.succeed(reservation);
      await checkPasswordPolicy(input.newPassword, { minLength: passwordMinLength(tenant), email: user.email, username: user.username });
      const passwordHash = await hasher.hash(input.newPassword);
      await db.withTenant(tenant.id, async (trx, emit) => {
        await updateUser(trx, user.id, { password_hash: passwordHash });
        await voidOneTimeTokens(trx, user.id, 'reset_password');
        await sessions.revokeAllTx(trx, emit, user.id, 'password_changed', currentSessionId);
        await emit(authEvent('password_changed', tenant.id, ctx, { userId: user.id, sessionId: currentSessionId }));
      });
    },
  };
}
export type RecoveryService = ReturnType<typeof createRecoveryService>;
