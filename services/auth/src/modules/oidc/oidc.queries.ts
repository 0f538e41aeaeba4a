/**
 * Queries of the OpenID provider: oidc-provider's stored artifacts (`oidc_payloads`), the
 * applications (its clients), API resources and remembered consents. Tenant-owned: every
 * query runs in `db.withTenant` (RLS), so another tenant's rows are never seen.
 */
import { sql } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import type { ApplicationRow, ResourceRow, Tx } from '../../db/schema';

/** A stored artifact as oidc-provider wants it back: `consumed` set once it was consumed. */
function toPayload(row: { payload: Record<string, unknown>; consumed_at: Date | null }): AdapterPayload {
  const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as AdapterPayload;
  return row.consumed_at ? { ...payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : payload;
}

/** Inserts or replaces one artifact; the lookup columns are copied out of the payload. */
export async function upsertPayload(trx: Tx, tenantId: string, model: string, id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
  const values = {
    payload: JSON.stringify(payload),
    grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
    account_id: typeof payload.accountId === 'string' ? payload.accountId : null,
    user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
    uid: typeof payload.uid === 'string' ? payload.uid : null,
    expires_at: expiresIn > 0 ? sql<Date>`now() + make_interval(secs => ${expiresIn})` : null,
  };
  await trx
    .insertInto('oidc_payloads')
    .values({ tenant_id: tenantId, model, id, ...values })
    .onConflict((oc) => oc.columns(['tenant_id', 'model', 'id']).doUpdateSet({ ...values, consumed_at: null }))
    .execute();
}

/** One unexpired artifact by model and a column. */
export async function findPayload(trx: Tx, model: string, by: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
  const row = await trx
    .selectFrom('oidc_payloads')
    .select(['payload', 'consumed_at'])
    .where('model', '=', model)
    .where(by, '=', value)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
  return row ? toPayload(row) : undefined;
}

export async function consumePayload(trx: Tx, model: string, id: string): Promise<void> {
  await trx.updateTable('oidc_payloads').set({ consumed_at: sql<Date>`now()` }).where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null).execute();
}

export async function destroyPayload(trx: Tx, model: string, id: string): Promise<void> {
  await trx.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute();
}

/** Every artifact of a grant (the grant itself included): codes, tokens, device codes. */
export async function destroyByGrant(trx: Tx, grantId: string): Promise<void> {
  await trx.deleteFrom('oidc_payloads').where((eb) => eb.or([eb('grant_id', '=', grantId), eb.and([eb('model', '=', 'Grant'), eb('id', '=', grantId)])])).execute();
}

/**
 * Ends everything the provider holds for these users: their grants and every token and code
 * of them, and their provider sessions (single sign-on). Called where Gatehouse revokes
 * sessions (sessions.queries.ts), in the same transaction.
 */
export async function destroyByAccounts(trx: Tx, userIds: readonly string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  const r = await trx.deleteFrom('oidc_payloads').where('account_id', 'in', [...userIds]).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** The grants of one user at one application (ids), for consent revocation. */
export async function grantIdsOf(trx: Tx, userId: string, clientId: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('oidc_payloads')
    .select('id')
    .where('model', '=', 'Grant')
    .where('account_id', '=', userId)
    .where(sql<boolean>`payload->>'clientId' = ${clientId}`)
    .execute();
  return rows.map((r) => r.id);
}

/** Deletes up to `limit` expired artifacts of the transaction's tenant (purge, under RLS). */
export async function purgeExpiredPayloads(trx: Tx, tenantId: string, limit: number): Promise<number> {
  const due = trx
    .selectFrom('oidc_payloads')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('expires_at', '<', sql<Date>`now()`)
    .limit(limit);
  const r = await trx.deleteFrom('oidc_payloads').where('tenant_id', '=', tenantId).where('expires_at', '<', sql<Date>`now()`).where('id', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function findApplicationByClientId(trx: Tx, clientId: string): Promise<ApplicationRow | undefined> {
  return trx.selectFrom('oidc_applications').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

export async function findApplication(trx: Tx, id: string): Promise<ApplicationRow | undefined> {
  return trx.selectFrom('oidc_applications').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listApplications(trx: Tx): Promise<ApplicationRow[]> {
  return trx.selectFrom('oidc_applications').selectAll().orderBy('created_at').limit(1000).execute();
}

export async function findResourceByAudience(trx: Tx, audience: string): Promise<ResourceRow | undefined> {
  return trx.selectFrom('oidc_resources').selectAll().where('audience', '=', audience).executeTakeFirst();
}

export async function findResource(trx: Tx, id: string): Promise<ResourceRow | undefined> {
  return trx.selectFrom('oidc_resources').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listResources(trx: Tx): Promise<ResourceRow[]> {
  return trx.selectFrom('oidc_resources').selectAll().orderBy('created_at').limit(1000).execute();
}

export async function findConsent(trx: Tx, userId: string, applicationId: string) {
  return trx.selectFrom('oidc_consents').selectAll().where('user_id', '=', userId).where('application_id', '=', applicationId).executeTakeFirst();
}

export async function saveConsent(trx: Tx, tenantId: string, userId: string, applicationId: string, scopes: string[]): Promise<void> {
  await trx
    .insertInto('oidc_consents')
    .values({ tenant_id: tenantId, user_id: userId, application_id: applicationId, scopes })
    .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'application_id']).doUpdateSet({ scopes, granted_at: sql<Date>`now()` }))
    .execute();
}

export async function listConsents(trx: Tx, userId: string) {
  return trx
    .selectFrom('oidc_consents as c')
    .innerJoin('oidc_applications as a', 'a.id', 'c.application_id')
    .select(['c.application_id', 'a.name', 'a.client_id', 'c.scopes', 'c.granted_at'])
    .where('c.user_id', '=', userId)
    .orderBy('c.granted_at', 'desc')
    .execute();
}

export async function deleteConsent(trx: Tx, userId: string, applicationId: string): Promise<boolean> {
  const r = await trx.deleteFrom('oidc_consents').where('user_id', '=', userId).where('application_id', '=', applicationId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
