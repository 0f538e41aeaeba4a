/** One-time tokens (email verification, password reset): sha256 only, single use. Inside `withTenant`. */
import { sql } from 'kysely';
import type { OneTimePurpose, Tx } from '../../db/schema';

export type { OneTimePurpose } from '../../db/schema';

/** Stores a one-time token by its sha256, expiring `ttlSec` from now (database clock). */
export async function insertOneTimeToken(
  trx: Tx,
  t: { token_hash: string; tenant_id: string; user_id: string; purpose: OneTimePurpose; ttlSec: number; new_email?: string },
): Promise<void> {
  await trx
    .insertInto('one_time_tokens')
    .values({
      token_hash: t.token_hash,
      tenant_id: t.tenant_id,
      user_id: t.user_id,
      purpose: t.purpose,
      new_email: t.new_email ?? null,
      expires_at: sql<Date>`now() + make_interval(secs => ${t.ttlSec})`,
    })
    .execute();
}

/**
 * Uses a token: the conditional UPDATE marks it used only when it is unused, unexpired and of
 * this purpose, atomically, so two parallel uses cannot both succeed. Returns the user id.
 */
export async function consumeOneTimeToken(trx: Tx, tokenHash: string, purpose: OneTimePurpose): Promise<string | undefined> {
  return (await consumeOneTimeTokenRow(trx, tokenHash, purpose))?.user_id;
}

/** {@link consumeOneTimeToken}, returning the new address of an email change too. */
export async function consumeOneTimeTokenRow(trx: Tx, tokenHash: string, purpose: OneTimePurpose): Promise<{ user_id: string; new_email: string | null } | undefined> {
  return trx
    .updateTable('one_time_tokens')
    .set({ used_at: sql<Date>`now()` })
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning(['user_id', 'new_email'])
    .executeTakeFirst();
}

/** Voids a user's unused tokens of a purpose (a newer one was issued, or the password changed). */
export async function voidOneTimeTokens(trx: Tx, userId: string, purpose: OneTimePurpose): Promise<void> {
  await trx
    .updateTable('one_time_tokens')
    .set({ used_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
}
