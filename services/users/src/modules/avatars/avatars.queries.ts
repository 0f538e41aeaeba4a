/** SQL for avatars: the profile's avatar columns and the storage-deletion queue. */
import { sql } from 'kysely';
import type { Db, Tx } from '../../db/schema';

/** Points the profile at a new avatar (or at none). */
export async function setAvatar(trx: Tx, userId: string, key: string | null, objectId: string | null, now: Date): Promise<void> {
  await trx.updateTable('profiles').set({ avatar_key: key, avatar_object: objectId, updated_at: now }).where('id', '=', userId).execute();
}

/** The storage key behind a public avatar object id (RLS limits it to the tenant in the id). */
export async function findAvatarKey(trx: Tx, objectId: string): Promise<string | undefined> {
  const row = await trx.selectFrom('profiles').select('avatar_key').where('avatar_object', '=', objectId).executeTakeFirst();
  return row?.avatar_key ?? undefined;
}

/** Records objects to delete once the transaction commits (see the storage_deletions table). */
export async function queueDeletions(trx: Tx | Db, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await trx.insertInto('storage_deletions').values(keys.map((key) => ({ key }))).execute();
}

/** Pending deletions, locked so sweepers in several replicas do not collide. Cross-tenant: admin only. */
export async function lockPendingDeletions(trx: Tx, limit: number): Promise<string[]> {
  const rows = await trx.selectFrom('storage_deletions').select('key').orderBy('created_at').limit(limit).forUpdate().skipLocked().execute();
  return rows.map((r) => r.key);
}

/** Drops a key from the deletion queue once the object is gone. */
export async function forgetDeletion(db: Tx | Db, key: string): Promise<void> {
  await db.deleteFrom('storage_deletions').where('key', '=', key).execute();
}

/** Counts a failed delete and keeps the error for operators. */
export async function recordDeletionFailure(db: Tx | Db, key: string, error: string): Promise<void> {
  await db
    .updateTable('storage_deletions')
    .set({ attempts: sql<number>`attempts + 1`, last_error: error.slice(0, 500) })
    .where('key', '=', key)
    .execute();
}
