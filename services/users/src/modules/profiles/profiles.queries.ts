/** SQL for profiles. Every function takes the executor, so it runs inside the caller's transaction. */
import type { ProfileRow, Tx } from '../../db/schema';

export type { ProfileRow } from '../../db/schema';

/** The profile fields a user edits. */
export interface ProfilePatch {
  display_name?: string | null;
  bio?: string | null;
  location?: string | null;
  website?: string | null;
}

/** A profile by user id (in the transaction's tenant), if any. */
export async function findProfile(trx: Tx, id: string): Promise<ProfileRow | undefined> {
  return trx.selectFrom('profiles').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks the row for the rest of the transaction (avatar replacement reads then writes). */
export async function findProfileForUpdate(trx: Tx, id: string): Promise<ProfileRow | undefined> {
  return trx.selectFrom('profiles').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Whether the user has a profile in the transaction's tenant. */
export async function profileExists(trx: Tx, id: string): Promise<boolean> {
  return (await trx.selectFrom('profiles').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** Applies profile fields; the new row, or undefined when there is no profile. */
export async function updateProfile(trx: Tx, id: string, patch: ProfilePatch, now: Date): Promise<ProfileRow | undefined> {
  return trx
    .updateTable('profiles')
    .set({ ...patch, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}
