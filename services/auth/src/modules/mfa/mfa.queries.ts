/** TOTP secrets and backup codes. Every function takes the executor of a `withTenant` transaction (RLS). */
import { sql, type RawBuilder } from 'kysely';
import { isUuid } from '@gatehouse/platform/formats';
import type { TotpRow, Tx } from '../../db/schema';

export type { TotpRow } from '../../db/schema';

/** What {@link secondFactorsLead} reads. */
export interface SecondFactorsRow {
  has_totp: boolean;
  passkeys: string | number;
}

/**
 * Whether the user has a confirmed TOTP secret and how many passkeys, in one statement (the
 * login gate's question; it was two round trips), as the lead of the gate's transaction
 * (`db.withTenantLed`: it rides the transaction's open, one round trip less per login).
 * Inlined, not bound: the lead goes by the simple query protocol, and the user id is a checked
 * UUID (hex digits and dashes), as the audit chain's lead does with the tenant id.
 */
export function secondFactorsLead(userId: string): RawBuilder<SecondFactorsRow> {
  if (!isUuid(userId)) throw new Error('secondFactorsLead needs a user uuid');
  return sql.raw(
    `select exists (select 1 from mfa_totp where user_id = '${userId}' and confirmed_at is not null) as has_totp, ` +
      `(select count(*) from passkeys where user_id = '${userId}') as passkeys`,
  );
}

/** {@link secondFactorsLead}'s row read. */
export function toSecondFactors(row: SecondFactorsRow | undefined): { hasTotp: boolean; passkeys: number } {
  if (!row) throw new Error('secondFactorsLead returned no row');
  return { hasTotp: row.has_totp, passkeys: Number(row.passkeys) };
}

/** The user's TOTP row, confirmed or pending. */
export async function findTotp(trx: Tx, userId: string): Promise<TotpRow | undefined> {
  return trx.selectFrom('mfa_totp').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

/**
 * Stores a new pending secret, replacing a pending one; a confirmed secret is left alone
 * (returns false), so setup can never silently replace an enabled factor.
 */
export async function upsertPendingTotp(trx: Tx, row: { user_id: string; tenant_id: string; secret_sealed: string }): Promise<boolean> {
  const r = await trx
    .insertInto('mfa_totp')
    .values({ ...row, confirmed_at: null, last_step: -1 })
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet({ secret_sealed: row.secret_sealed, last_step: -1, created_at: sql<Date>`now()` })
        .where('mfa_totp.confirmed_at', 'is', null),
    )
    .returning('user_id')
    .executeTakeFirst();
  return r !== undefined;
}

/**
 * Claims a time step: succeeds only when it is later than the last accepted one. The
 * conditional UPDATE is atomic, so of parallel copies of one code exactly one wins.
 * `confirm` marks a pending secret confirmed in the same statement.
 */
export async function claimTotpStep(trx: Tx, userId: string, step: number, opts: { confirm: boolean }): Promise<boolean> {
  let q = trx.updateTable('mfa_totp').set(opts.confirm ? { last_step: step, confirmed_at: sql<Date>`now()` } : { last_step: step });
  q = q.where('user_id', '=', userId).where('last_step', '<', step);
  q = opts.confirm ? q.where('confirmed_at', 'is', null) : q.where('confirmed_at', 'is not', null);
  const r = await q.returning('user_id').executeTakeFirst();
  return r !== undefined;
}

/** Removes the user's TOTP secret and backup codes; true when a secret was there. */
export async function deleteSecondFactors(trx: Tx, userId: string): Promise<boolean> {
  await trx.deleteFrom('mfa_backup_codes').where('user_id', '=', userId).execute();
  const r = await trx.deleteFrom('mfa_totp').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Replaces the user's backup codes with these hashes (the old set is void). */
export async function replaceBackupCodes(trx: Tx, tenantId: string, userId: string, hashes: string[]): Promise<void> {
  await trx.deleteFrom('mfa_backup_codes').where('user_id', '=', userId).execute();
  await trx
    .insertInto('mfa_backup_codes')
    .values(hashes.map((code_hash) => ({ user_id: userId, tenant_id: tenantId, code_hash })))
    .execute();
}

/** Marks a backup code used if it is unused: atomic, so parallel uses of one code succeed once. */
export async function consumeBackupCode(trx: Tx, userId: string, hash: string): Promise<boolean> {
  const r = await trx
    .updateTable('mfa_backup_codes')
    .set({ used_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('code_hash', '=', hash)
    .where('used_at', 'is', null)
    .returning('user_id')
    .executeTakeFirst();
  return r !== undefined;
}

/** Unused backup codes left. */
export async function countBackupCodes(trx: Tx, userId: string): Promise<number> {
  const r = await trx
    .selectFrom('mfa_backup_codes')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Whether the user has at least one passkey (for the second-factor gate). */
export async function countPasskeys(trx: Tx, userId: string): Promise<number> {
  const r = await trx
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
