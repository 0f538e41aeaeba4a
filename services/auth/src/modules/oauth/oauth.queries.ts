/** Provider configurations and linked identities. Every function takes the executor of a `withTenant` transaction (RLS). */
import { sql } from 'kysely';
import type { Tx } from '@gatehouse/platform/db';

/** Endpoint overrides of a provider configuration. */
export interface ProviderEndpoints {
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
}

/** A row of `oauth_providers`. */
export interface ProviderRow {
  tenant_id: string;
  provider: string;
  client_id: string;
  client_secret_sealed: string;
  discovery_url: string | null;
  scopes: string[] | null;
  endpoints: ProviderEndpoints;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

function fix(row: ProviderRow | undefined): ProviderRow | undefined {
  if (row && typeof row.endpoints === 'string') row.endpoints = JSON.parse(row.endpoints) as ProviderEndpoints;
  return row;
}

/** The tenant's provider configurations. */
export async function listProviderConfigs(trx: Tx): Promise<ProviderRow[]> {
  const rows = (await trx.selectFrom('oauth_providers').selectAll().orderBy('provider').execute()) as ProviderRow[];
  return rows.map((r) => fix(r)!);
}

/** One provider configuration. */
export async function findProviderConfig(trx: Tx, provider: string): Promise<ProviderRow | undefined> {
  return fix((await trx.selectFrom('oauth_providers').selectAll().where('provider', '=', provider).executeTakeFirst()) as ProviderRow | undefined);
}

/** Creates or replaces a provider configuration. */
export async function upsertProviderConfig(
  trx: Tx,
  row: { tenant_id: string; provider: string; client_id: string; client_secret_sealed: string; discovery_url: string | null; scopes: string[] | null; endpoints: ProviderEndpoints; enabled: boolean },
): Promise<ProviderRow> {
  const values = { ...row, endpoints: JSON.stringify(row.endpoints) };
  const { tenant_id: _t, provider: _p, ...update } = values;
  return fix(
    (await trx
      .insertInto('oauth_providers')
      .values(values)
      .onConflict((oc) => oc.columns(['tenant_id', 'provider']).doUpdateSet({ ...update, updated_at: sql`now()` }))
      .returningAll()
      .executeTakeFirstOrThrow()) as ProviderRow,
  )!;
}

/** Deletes a provider configuration; true when there was one. */
export async function deleteProviderConfig(trx: Tx, provider: string): Promise<boolean> {
  const r = await trx.deleteFrom('oauth_providers').where('provider', '=', provider).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** A row of `oauth_identities`. */
export interface IdentityRow {
  id: string;
  tenant_id: string;
  provider: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: Date;
}

/** The identity a provider's subject is linked to in this tenant. */
export async function findIdentity(trx: Tx, provider: string, subject: string): Promise<IdentityRow | undefined> {
  return trx.selectFrom('oauth_identities').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst() as Promise<
    IdentityRow | undefined
  >;
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
