/** Provider configurations and linked identities. Every function takes the executor of a `withTenant` transaction (RLS). */
import { sql } from 'kysely';
import type { IdentityRow, ProviderEndpoints, ProviderRow, Tx } from '../../db/schema';

export type { IdentityRow, ProviderEndpoints, ProviderRow } from '../../db/schema';

/** The tenant's provider configurations. */
export async function listProviderConfigs(trx: Tx): Promise<ProviderRow[]> {
  return trx.selectFrom('oauth_providers').selectAll().orderBy('provider').execute();
}

/** One provider configuration. */
export async function findProviderConfig(trx: Tx, provider: string): Promise<ProviderRow | undefined> {
  return trx.selectFrom('oauth_providers').selectAll().where('provider', '=', provider).executeTakeFirst();
}

/** Creates or replaces a provider configuration. */
export async function upsertProviderConfig(
  trx: Tx,
  row: { tenant_id: string; provider: string; client_id: string; client_secret_sealed: string; discovery_url: string | null; scopes: string[] | null; endpoints: ProviderEndpoints; enabled: boolean },
): Promise<ProviderRow> {
  const values = { ...row, endpoints: JSON.stringify(row.endpoints) };
  const { tenant_id: _t, provider: _p, ...update } = values;
  return trx
    .insertInto('oauth_providers')
    .values(values)
    .onConflict((oc) => oc.columns(['tenant_id', 'provider']).doUpdateSet({ ...update, updated_at: sql<Date>`now()` }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a provider configuration; true when there was one. */
export async function deleteProviderConfig(trx: Tx, provider: string): Promise<boolean> {
  const r = await trx.deleteFrom('oauth_providers').where('provider', '=', provider).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The identity a provider's subject is linked to in this tenant. */
export async function findIdentity(trx: Tx, provider: string, subject: string): Promise<IdentityRow | undefined> {
  return trx.selectFrom('oauth_identities').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
}

/** Links a provider subject to a user; a second link of one subject raises a unique violation. */
export async function insertIdentity(trx: Tx, row: { id: string; tenant_id: string; provider: string; subject: string; user_id: string; email: string | null }): Promise<void> {
  await trx.insertInto('oauth_identities').values(row).execute();
}

/** Inserts a user created by a federated sign-in (no password). */
export async function insertFederatedUser(
  trx: Tx,
  row: { id: string; tenant_id: string; email: string; display_name: string | null; email_verified_at: Date | null },
) {
  return trx
    .insertInto('users')
    .values({ ...row, username: null, password_hash: null, roles: ['user'] })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The identities linked to a user, oldest first. */
export async function listUserIdentities(trx: Tx, userId: string): Promise<IdentityRow[]> {
  return trx.selectFrom('oauth_identities').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

/** Unlinks every identity of `provider` from a user; how many there were. */
export async function deleteUserIdentities(trx: Tx, userId: string, provider: string): Promise<number> {
  const r = await trx.deleteFrom('oauth_identities').where('user_id', '=', userId).where('provider', '=', provider).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * The user's other ways to sign in. With `lock`, the user's row is locked (FOR UPDATE) so that
 * two unlinks at once cannot both see the other's identity and leave the account with none.
 * Undefined when the user does not exist.
 */
export async function signInMethods(trx: Tx, userId: string, lock: boolean): Promise<{ password: boolean; passkeys: number } | undefined> {
  const q = trx.selectFrom('users').select(['id', 'password_hash']).where('id', '=', userId);
  const user = await (lock ? q.forUpdate() : q).executeTakeFirst();
  if (!user) return undefined;
  const { n } = await trx.selectFrom('passkeys').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return { password: user.password_hash !== null, passkeys: Number(n) };
}
