/**
 * `tenants` is a global table (it is what tenant ids point to, not tenant-owned data), so
 * these queries run on the owner connection: the tenant is being looked up, not yet known.
 */
import type { Db } from '@gatehouse/platform/db';

/** A row of `tenants`. */
export interface TenantRow {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  settings: Record<string, unknown>;
  created_at: Date;
}

/** The tenant with this id, any status. */
export async function findTenantById(db: Db, id: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst() as Promise<TenantRow | undefined>;
}

/** The tenant with this slug, any status. */
export async function findTenantBySlug(db: Db, slug: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst() as Promise<TenantRow | undefined>;
}
