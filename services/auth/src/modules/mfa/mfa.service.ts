/**
 * TOTP enrollment and management, backup codes, and the admin MFA reset.
 *
 * Setup stores a new 160-bit secret sealed with the master secret, pending until a code
 * from it is confirmed; confirmation enables MFA (`users.mfa_enabled`), returns 10 backup
 * codes and emits `mfa_enabled`. Disabling and regenerating backup codes need the password
 * (throttled like a login). An admin reset removes the TOTP secret and backup codes of a
 * user of the admin's tenant (`mfa_disabled`, reason `admin_reset`); passkeys stay, the
 * user manages those.
 */
import type { Logger } from 'pino';
import { loadOnFirstUse } from '@gatehouse/platform/lazy';
import type { AccessClaims } from '@gatehouse/platform/auth';
import type { TokenResponse } from '@gatehouse/contracts';
import type { Database, Tx } from '../../db/schema';
import { authEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { PasswordHasher } from '../passwords/passwords.service';
import type { TenantService } from '../tenants/tenants.service';
import type { Throttle } from '../throttle/throttle.service';
import { findUserById, updateUser, type UserRow } from '../users/users.queries';
import { adminUserErrors } from '../admin-users/admin-users.errors';
import { mfaErrors } from './mfa.errors';
import type { MfaSecrets } from './mfa.codes';
import type { LoginGate } from './mfa.login';
import { deleteSecondFactors, findTotp, replaceBackupCodes, upsertPendingTotp } from './mfa.queries';
import type { MfaTokens } from './mfa.tokens';
import { newTotpSecret, otpauthUri } from './mfa.totp';

// Loaded with the first TOTP setup, not at start (~60 files, ~20 ms of a start); 503 if it cannot be.
const qrcode = loadOnFirstUse('The QR code renderer', () => import('qrcode').then((m) => m.default));

/** Who is enrolling: a signed-in user, or the holder of an enrollment MFA token. */
export interface MfaSubject {
  tenantId: string;
  userId: string;
  /** set when authenticated by an enrollment mfaToken rather than an access token */
  enrollmentToken?: string;
}

export interface MfaServiceDeps {
  db: Database;
  gate: LoginGate;
  tokens: MfaTokens;
  secrets: MfaSecrets;
  hasher: PasswordHasher;
  throttle: Throttle;
  tenants: TenantService;
  logger: Logger;
}

/** Creates the MFA management service. */
export function createMfaService(deps: MfaServiceDeps) {
  const { db, gate, tokens, secrets, hasher, throttle, tenants } = deps;

  /** New backup codes for a user in `trx` (the old set is void); returns them for display. */
  async function newCodesTx(trx: Tx, tenantId: string, userId: string): Promise<string[]> {
    const codes = secrets.newBackupCodes();
    await replaceBackupCodes(trx, tenantId, userId, codes.map((c) => secrets.hashBackupCode(userId, c)!));
    return codes;
  }

  /** The password check of disable and regenerate: throttled with the login's counter. */
  async function checkPassword(tenantId: string, userId: string, password: string, ctx: RequestContext): Promise<UserRow> {
    const user = await db.withTenantRead(tenantId, (trx) => findUserById(trx, userId));
    if (!user) throw mfaErrors.invalidCredentials();
    const reservation = await throttle.reserve('password', tenantId, `u:${user.id}`, { ip: ctx.ip });
    const ok = await hasher.verifyAccount(user, password);
    if (!ok) {
      await throttle.fail(reservation);
      await throttle.failIp('password', ctx.ip);
      throw mfaErrors.invalidCredentials();
    }
    await throttle.succeed(reservation);
    return user;
  }

  return {
    /** `POST /mfa/totp/setup`: a new pending secret, its otpauth URI and QR code. */
    async setup(subject: MfaSubject): Promise<{ secret: string; otpauthUri: string; qrCodeSvg: string }> {
      const tenant = await tenants.requireActive(subject.tenantId);
      const secret = newTotpSecret();
      const user = await db.withTenant(tenant.id, async (trx) => {
        const u = await findUserById(trx, subject.userId);
        if (!u) throw mfaErrors.invalidToken();
        if (!(await upsertPendingTotp(trx, { user_id: u.id, tenant_id: tenant.id, secret_sealed: secrets.sealSecret(secret) }))) throw mfaErrors.alreadyEnabled();
        return u;
      });
      const uri = otpauthUri(secret, tenant.name || 'Gatehouse', user.email);
      const qrCodeSvg = await (await qrcode()).toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      return { secret, otpauthUri: uri, qrCodeSvg };
    },

    /**
     * `POST /mfa/totp/confirm`: enables TOTP with a code of the pending secret; returns the
     * backup codes. With an enrollment token it also completes that sign-in (`tokens`).
     */
    async confirm(subject: MfaSubject, code: string, ctx: RequestContext): Promise<{ backupCodes: string[]; tokens?: TokenResponse }> {
      const tenant = await tenants.requireActive(subject.tenantId);
      const reservation = await throttle.reserve('mfa', tenant.id, `u:${subject.userId}`, { ip: ctx.ip });
      const result = await db.withTenant(tenant.id, async (trx, emit) => {
        const pending = await findTotp(trx, subject.userId);
        if (!pending) throw mfaErrors.noPendingSetup();
        if (pending.confirmed_at !== null) throw mfaErrors.alreadyEnabled();
        if (!(await gate.useFactor(trx, subject.userId, { code }, { confirm: true }))) return undefined;
        await updateUser(trx, subject.userId, { mfa_enabled: true });
        const codes = await newCodesTx(trx, tenant.id, subject.userId);
        await emit(authEvent('mfa_enabled', tenant.id, ctx, { userId: subject.userId, method: 'totp' }));
        return codes;
      });
      if (!result) {
        await throttle.fail(reservation);
        await throttle.failIp('mfa', ctx.ip);
        throw mfaErrors.invalidCodeConfirm();
      }
      await throttle.succeed(reservation);
      if (!subject.enrollmentToken) return { backupCodes: result };
      const rec = await tokens.peek(subject.enrollmentToken);
      if (!rec) return { backupCodes: result };
      return { backupCodes: result, tokens: await gate.finish(tenant, subject.enrollmentToken, rec, ctx, 'totp') };
    },

    /** `DELETE /mfa/totp`: needs the password; removes the secret and the backup codes. */
    async disable(tenantId: string, userId: string, password: string, ctx: RequestContext): Promise<void> {
      await tenants.requireActive(tenantId);
      await checkPassword(tenantId, userId, password, ctx);
      const removed = await db.withTenant(tenantId, async (trx, emit) => {
        const had = await deleteSecondFactors(trx, userId);
        await updateUser(trx, userId, { mfa_enabled: false });
        if (had) await emit(authEvent('mfa_disabled', tenantId, ctx, { userId, method: 'totp', reason: 'user' }));
        return had;
      });
      if (!removed) throw mfaErrors.notEnabled();
    },

    /** `POST /mfa/backup-codes`: needs the password; a new set, the old one void. */
    async regenerateBackupCodes(tenantId: string, userId: string, password: string, ctx: RequestContext): Promise<string[]> {
      await tenants.requireActive(tenantId);
      await checkPassword(tenantId, userId, password, ctx);
      return db.withTenant(tenantId, async (trx) => {
        const totp = await findTotp(trx, userId);
        if (!totp?.confirmed_at) throw mfaErrors.notEnabled();
        return newCodesTx(trx, tenantId, userId);
      });
    },

    /** `POST /admin/users/{id}/mfa/reset`: removes the user's TOTP and backup codes. */
    async adminReset(actor: AccessClaims, userId: string, ctx: RequestContext): Promise<void> {
      await db.withTenant(actor.tid, async (trx, emit) => {
        const target = await findUserById(trx, userId);
        if (!target) throw adminUserErrors.notFound();
        if (target.roles.includes('superadmin') && !actor.roles.includes('superadmin')) throw adminUserErrors.superadminOnly();
        const had = await deleteSecondFactors(trx, userId);
        await updateUser(trx, userId, { mfa_enabled: false });
        if (had) await emit(authEvent('mfa_disabled', actor.tid, ctx, { userId, method: 'totp', reason: 'admin_reset' }));
      });
    },
  };
}
export type MfaService = ReturnType<typeof createMfaService>;
