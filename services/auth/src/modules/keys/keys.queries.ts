/**
 * `signing_keys` is global (one key set signs every tenant's tokens), so these queries run on
 * the owner connection.
 */
import type { Db, SigningKeyRow } from '../../db/schema';
import { sql } from 'kysely';

export type { SigningKeyRow } from '../../db/schema';

/** Keys still published: current ones and those retired less than `overlapSec` ago, newest first. */
export async function listPublishedKeys(db: Db, overlapSec: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', sql<Date>`now() - make_interval(secs => ${overlapSec})`)]))
    .orderBy('created_at', 'desc')
    .execute();
}

/** Stores a new key (public JWK in clear, private half already sealed). */
export async function insertKey(db: Db, row: Omit<SigningKeyRow, 'created_at' | 'retired_at'>): Promise<void> {
  await db
    .insertInto('signing_keys')
    .values({ kid: row.kid, alg: row.alg, public_jwk: JSON.stringify(row.public_jwk), private_sealed: row.private_sealed })
    .execute();
}

/** Marks every current key except `keep` retired now. */
export async function retireOthers(db: Db, keep: string): Promise<void> {
  await db.updateTable('signing_keys').set({ retired_at: sql<Date>`now()` }).where('retired_at', 'is', null).where('kid', '!=', keep).execute();
}

/** How many keys are not retired. */
export async function countCurrent(db: Db): Promise<number> {
  const r = await db.selectFrom('signing_keys').select((eb) => eb.fn.countAll<string>().as('n')).where('retired_at', 'is', null).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Serialises key creation across replicas starting together (held until the transaction ends). */
export async function lockKeys(db: Db): Promise<void> {
  await sql`lock table signing_keys in share row exclusive mode`.execute(db);
}
