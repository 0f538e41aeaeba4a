/** Passkeys (WebAuthn credentials). Every function takes the executor of a `withTenant` transaction (RLS). */
import { sql } from 'kysely';
import type { NewPasskey, PasskeyRow, Tx } from '../../db/schema';

export type { PasskeyRow } from '../../db/schema';

/** A user's passkeys, oldest first. */
export async function listPasskeys(trx: Tx, userId: string): Promise<PasskeyRow[]> {
  return trx.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
}

/** The passkey with this credential id in the current tenant. */
export async function findByCredentialId(trx: Tx, credentialId: string): Promise<PasskeyRow | undefined> {
  return trx.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
}

/** Stores a verified credential; a duplicate credential id raises a unique violation. */
export async function insertPasskey(
  trx: Tx,
  row: NewPasskey & { counter: number; transports: string[]; backed_up: boolean; name: string | null },
): Promise<PasskeyRow> {
  return trx
    .insertInto('passkeys')
    .values({ ...row, public_key: Buffer.from(row.public_key) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Records a use: the new signature counter and the time. */
export async function touchPasskey(trx: Tx, id: string, counter: number, backedUp: boolean): Promise<void> {
  await trx.updateTable('passkeys').set({ counter, backed_up: backedUp, last_used_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** Deletes one of the user's passkeys; true when it was theirs. */
export async function deletePasskey(trx: Tx, userId: string, id: string): Promise<boolean> {
  const r = await trx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
