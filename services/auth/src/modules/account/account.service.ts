/**
 * Self-service account changes: username and display name, email change (a single-use link
 * to the new address, 24 h, and a notice to the old one), and account deletion (confirmed by
 * the password, or by a fresh sign-in with a second factor for accounts without one).
 */
import type { User } from '@gatehouse/contracts';
import type { AccessClaims } from '@gatehouse/platform/auth';
import { randomToken, sha256 } from '@gatehouse/platform/crypto';
import type { Database, UserUpdate } from '../../db/schema';
import type { RequestContext } from '../../context';
import { authEvent, userEvent } from '../../events';
import type { PasswordHasher } from '../passwords/passwords.service';
import type { RecoveryService } from '../recovery/recovery.service';
import { recoveryErrors } from '../recovery/recovery.errors';
import { consumeOneTimeTokenRow, insertOneTimeToken, voidOneTimeTokens } from '../recovery/recovery.queries';
import type { SessionService } from '../sessions/sessions.service';
import { findActiveSession } from '../sessions/sessions.queries';
import type { TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
import { userErrors } from '../users/users.errors';
import { deleteUser, findUserByEmail, findUserById, updateUser, type UserRow } from '../users/users.queries';
import { eventUser, mapUniqueViolation, toUser } from '../users/users.service';
import { accountErrors } from './account.errors';

export const EMAIL_CHANGE_TTL_SEC = 24 * 3600;
/** how recent a second-factor sign-in must be to confirm a deletion without a password */
export const FRESH_SIGN_IN_SEC = 5 * 60;
/** sign-in methods (RFC 8176) that count as a second factor here: TOTP/backup code, passkey */
const SECOND_FACTORS = new Set(['otp', 'hwk']);

export interface AccountServiceDeps {
  db: Database;
  hasher: PasswordHasher;
  throttle: Throttle;
  tenants: TenantService;
  sessions: SessionService;
  recovery: RecoveryService;
  publicUrl: string;
}

/** Creates the account service. */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, hasher, throttle, tenants, sessions, recovery } = deps;

  /** Checks the password like a password change does (throttled per account and IP); 401 when wrong. */
  async function checkPassword(tenantId: string, user: UserRow, password: string, ctx: RequestContext): Promise<void> {
    const reservation = await throttle.reserve('password', tenantId, `u:${user.id}`, { ip: ctx.ip });
    if (!(await hasher.verifyAccount(user, password))) {
      await throttle.fail(reservation);
      await throttle.failIp('password', ctx.ip);
      throw accountErrors.invalidCredentials();
    }
    await throttle.succeed(reservation);
  }

  async function loadSelf(tenantId: string, userId: string): Promise<UserRow> {
    const user = await db.withTenantRead(tenantId, (trx) => findUserById(trx, userId));
    if (!user) throw userErrors.notFound();
    return user;
  }

  return {
    /** `PATCH /me`: username and/or display name. */
    async updateMe(claims: AccessClaims, patch: { username?: string | null; displayName?: string | null }): Promise<User> {
      await tenants.requireActive(claims.tid);
      try {
        const row = await db.withTenant(claims.tid, async (trx, emit) => {
          const current = await findUserById(trx, claims.sub);
          if (!current) throw userErrors.notFound();
          const set: UserUpdate = {};
          if (patch.username !== undefined && patch.username !== current.username) set.username = patch.username;
          if (patch.displayName !== undefined && patch.displayName !== current.display_name) set.display_name = patch.displayName;
          if (Object.keys(set).length === 0) return current;
          const row = (await updateUser(trx, claims.sub, set))!;
          await emit(userEvent('updated', claims.tid, eventUser(row)));
          return row;
        });
        return toUser(row);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') mapUniqueViolation(err);
        throw err;
      }
    },

    /** `POST /email/change`: checks the password, mails a link to the new address and a notice to the old. */
    async requestEmailChange(claims: AccessClaims, input: { newEmail: string; password: string }, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(claims.tid);
      const user = await loadSelf(tenant.id, claims.sub);
      await checkPassword(tenant.id, user, input.password, ctx);
      const newEmail = input.newEmail.trim();
      if (newEmail.toLowerCase() === user.email.toLowerCase()) throw accountErrors.sameEmail();
      await throttle.limit('email-change', tenant.id, user.id, 5, 3600);
      const token = await db.withTenant(tenant.id, async (trx, emit) => {
        if (await findUserByEmail(trx, newEmail)) throw userErrors.emailTaken();
        await voidOneTimeTokens(trx, user.id, 'change_email');
        const token = randomToken(32);
        await insertOneTimeToken(trx, { token_hash: sha256(token), tenant_id: tenant.id, user_id: user.id, purpose: 'change_email', ttlSec: EMAIL_CHANGE_TTL_SEC, new_email: newEmail });
        await emit(authEvent('email_change_requested', tenant.id, ctx, { userId: user.id }));
        return token;
      });
      const link = `${deps.publicUrl}/confirm-email?token=${encodeURIComponent(token)}`;
      recovery.sendNotice(
        newEmail,
        'Confirm your new email address',
        `Open this link within 24 hours to make this address the one of your ${tenant.name} account (it works once):\n\n${link}\n\nIf you did not ask for this, ignore this message.`,
        'email-change-link',
      );
      recovery.sendNotice(
        user.email,
        'Your email address is being changed',
        `Someone signed in to your ${tenant.name} account asked to change its email address to ${newEmail}. Nothing changes until the new address is confirmed.\n\nIf it was not you, change your password and sign out your other sessions.`,
        'email-change-notice',
      );
    },

    /** `POST /email/change/confirm`: the address changes and counts as verified. */
    async confirmEmailChange(tenantId: string, token: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      await throttle.checkIp('verify', ctx.ip);
      let ok: boolean;
      try {
        ok = await db.withTenant(tenant.id, async (trx, emit) => {
          const used = await consumeOneTimeTokenRow(trx, sha256(token), 'change_email');
          if (!used?.new_email) return false;
          const row = await updateUser(trx, used.user_id, { email: used.new_email, email_verified_at: new Date() });
          if (!row || row.disabled_at !== null) return false;
          await voidOneTimeTokens(trx, row.id, 'change_email');
          // a pending reset or verification link went to the old address
          await voidOneTimeTokens(trx, row.id, 'reset_password');
          await voidOneTimeTokens(trx, row.id, 'verify_email');
          await emit(userEvent('updated', tenant.id, eventUser(row)), authEvent('email_changed', tenant.id, ctx, { userId: row.id }));
          return true;
        });
      } catch (err) {
        // the address was taken after the link was sent
        if ((err as { code?: string }).code === '23505') mapUniqueViolation(err);
        throw err;
      }
      if (!ok) {
        await throttle.failIp('verify', ctx.ip);
        throw recoveryErrors.invalidToken();
      }
    },

    /**
     * `DELETE /me`: confirmed by the password, or (no password given) by a sign-in with a
     * second factor at most 5 minutes old. Every session and token is revoked, the user row
     * deleted (its sessions, tokens, factors and identities go by cascade) and
     * `user.events.deleted` published: the users service drops the profile, the audit log
     * records it.
     */
    async deleteMe(claims: AccessClaims, input: { password?: string }, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(claims.tid);
      const user = await loadSelf(tenant.id, claims.sub);
      if (user.roles.includes('superadmin')) throw accountErrors.superadminDelete();
      if (input.password !== undefined) {
        await checkPassword(tenant.id, user, input.password, ctx);
      } else {
        const session = await db.withTenantRead(tenant.id, (trx) => findActiveSession(trx, claims.sid));
        const fresh = session && Date.now() - new Date(session.created_at).getTime() <= FRESH_SIGN_IN_SEC * 1000 && session.amr.some((m) => SECOND_FACTORS.has(m));
        if (!fresh) throw accountErrors.confirmationRequired();
      }
      await db.withTenant(tenant.id, async (trx, emit) => {
        await sessions.revokeAllTx(trx, emit, user.id, 'account_deleted');
        emit.revokeUser(user.id);
        await deleteUser(trx, user.id);
        await emit(userEvent('deleted', tenant.id, eventUser(user)), authEvent('account_deleted', tenant.id, ctx, { userId: user.id }));
      });
    },
  };
}
export type AccountService = ReturnType<typeof createAccountService>;
