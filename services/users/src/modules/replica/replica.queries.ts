/** SQL for the identity replica (profiles as announced by the identity service). */
import { sql } from 'kysely';
import type { Tx } from '../../db/schema';

/** Makes the rest of the transaction run as the application role for `tenantId`: RLS applies. */
export async function actAsTenant(trx: Tx, tenantId: string): Promise<void> {
  await sql`select set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', ${tenantId}, true)`.execute(trx);
}

/** Whether the identity service deleted this user (a tombstone exists). */
export async function isDeleted(trx: Tx, id: string): Promise<boolean> {
  return (await trx.selectFrom('deleted_users').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** Identity fields of a user event, as applied to a profile. */
export interface IdentityFields {
  tenant_id: string;
  id: string;
  email: string;
  /** undefined: keep the current value */
  username?: string | null;
  display_name?: string | null;
  /** the event's time */
  at: Date;
}

/**
 * Creates the profile or applies the identity fields, unless a newer identity event was
 * applied already (events can arrive out of order after a redelivery). The display name from
 * the identity service only fills an empty one: after creation the member edits it here.
 */
export async function upsertIdentity(trx: Tx, f: IdentityFields): Promise<void> {
  await trx
    .insertInto('profiles')
    .values({
      tenant_id: f.tenant_id,
      id: f.id,
      email: f.email,
      username: f.username ?? null,
      display_name: f.display_name ?? null,
      identity_at: f.at,
      created_at: f.at,
      updated_at: sql<Date>`now()`,
    })
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'id'])
        .doUpdateSet((eb) => ({
          email: eb.ref('excluded.email'),
          ...(f.username !== undefined ? { username: eb.ref('excluded.username') } : {}),
          display_name: sql<string | null>`coalesce(profiles.display_name, excluded.display_name)`,
          identity_at: eb.ref('excluded.identity_at'),
          updated_at: sql<Date>`now()`,
        }))
        .where('profiles.identity_at', '<=', f.at),
    )
    .execute();
}

/** Records the deletion (a tombstone) and removes the profile; returns its avatar's storage key. */
export async function deleteIdentity(trx: Tx, tenantId: string, id: string, at: Date): Promise<{ avatarKey: string | null }> {
  await trx.insertInto('deleted_users').values({ tenant_id: tenantId, id, deleted_at: at }).onConflict((oc) => oc.doNothing()).execute();
  const row = await trx.deleteFrom('profiles').where('id', '=', id).returning('avatar_key').executeTakeFirst();
  return { avatarKey: row?.avatar_key ?? null };
}
