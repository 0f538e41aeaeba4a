/** SQL for profiles. Every function takes the executor, so it runs inside the caller's transaction. */
import { preparedQuery } from '@gatehouse/platform/prepared';
import { allColumns } from '@gatehouse/platform/schema';
import { columns, type Db, type ProfileRow, type Tx } from '../../db/schema';

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
  return (await byIdQuery.run(trx, { id }))[0];
}

// read at every GET /users/me and /users/:id: compiled once and, its columns listed, a named
// statement on PostgreSQL (platform/prepared.ts)
const byIdQuery = preparedQuery((db: Db, p: { id: string }) => db.selectFrom('profiles').select(allColumns(columns.profiles)).where('id', '=', p.id));

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
