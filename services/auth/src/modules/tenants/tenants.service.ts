/**
 * Tenants as the auth service uses them: the request's tenant must exist and be active for
 * logins and registrations, and its settings tune password length and access-token lifetime.
 */
import type { Database } from '@gatehouse/platform/db';
import { tenantErrors } from './tenants.errors';
import { findTenantById, findTenantBySlug, type TenantRow } from './tenants.queries';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Tenant settings the auth service reads (others may be present and are passed through). */
export interface TenantSettings {
  /** raises the minimum password length above 8 (at most 256) */
  passwordMinLength?: number;
  /** overrides config.tokens.accessTtlSec for this tenant (60..3600 s) */
  accessTokenTtlSec?: number;
  [key: string]: unknown;
}

/** The public shape of a tenant (internal resolve endpoint, admin). */
export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  settings: TenantSettings;
  createdAt: string;
}

/** Longest access-token lifetime a tenant setting may ask for; key overlap and revocation TTLs cover it. */
export const MAX_TENANT_ACCESS_TTL_SEC = 3600;

function toTenant(row: TenantRow): Tenant {
  const settings = typeof row.settings === 'string' ? (JSON.parse(row.settings) as TenantSettings) : (row.settings ?? {});
  return { id: row.id, slug: row.slug, name: row.name, status: row.status, settings, createdAt: new Date(row.created_at).toISOString() };
}

/** Creates the tenants service. */
export function createTenantService({ db }: { db: Database }) {
  return {
    /** The tenant by id or slug, active or not; undefined when unknown. */
    async resolve(by: { id?: string; slug?: string }): Promise<Tenant | undefined> {
      if (by.id !== undefined) {
        if (!UUID.test(by.id)) return undefined;
        const row = await findTenantById(db.admin, by.id);
        return row && toTenant(row);
      }
      if (by.slug !== undefined) {
        const row = await findTenantBySlug(db.admin, by.slug);
        return row && toTenant(row);
      }
      return undefined;
    },

    /** The active tenant with this id; throws 404 `tenant_not_found` for an unknown or disabled one. */
    async requireActive(id: string): Promise<Tenant> {
      const t = await this.resolve({ id });
      if (!t || t.status !== 'active') throw tenantErrors.notFound();
      return t;
    },
  };
}
export type TenantService = ReturnType<typeof createTenantService>;

/** Minimum password length for a tenant: 8 unless its settings raise it (capped at 256). */
export function passwordMinLength(t: Tenant | undefined): number {
  const v = t?.settings.passwordMinLength;
  return typeof v === 'number' && Number.isInteger(v) ? Math.min(256, Math.max(8, v)) : 8;
}

/** Access-token lifetime for a tenant: its setting within 60..MAX, else the configured default. */
export function accessTtlSec(t: Tenant | undefined, fallback: number): number {
  const v = t?.settings.accessTokenTtlSec;
  return typeof v === 'number' && Number.isInteger(v) ? Math.min(MAX_TENANT_ACCESS_TTL_SEC, Math.max(60, v)) : fallback;
}
