/**
 * Tenants as every auth flow uses them: the request's tenant must exist and be active for
 * logins, registrations and refreshes, and its settings tune the flows (readers with defaults
 * in `tenants.settings.ts`, re-exported here). Superadmin management is `tenants.admin.ts`.
 */
import type { Database } from '../../db/schema';
import { tenantErrors } from './tenants.errors';
import { findTenantById, findTenantBySlug, type TenantRow } from './tenants.queries';
import type { TenantSettings } from './tenants.schemas';
import { selfRegistrationOpen } from './tenants.settings';

export {
  accessTtlSec,
  allowedOrigins,
  enabledProviders,
  isAllowedRedirectUri,
  MAX_TENANT_ACCESS_TTL_SEC,
  mfaRequired,
  passwordMinLength,
  refreshIdleSec,
  selfRegistrationOpen,
} from './tenants.settings';
export type { TenantSettings } from './tenants.schemas';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A DNS label (RFC 1123): what a slug must be, so `<slug>.<BASE_DOMAIN>` is a host name. */
export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Slugs refused at creation: host names a deployment uses for itself (the gateway serves `www.`
 * and `api.` as the deployment, not a tenant) or that invite phishing (`admin.`, `login.`).
 * `default` is not here: it exists, so asking for it is `slug_taken`.
 */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'www', 'api', 'admin', 'app', 'auth', 'login', 'sso', 'oauth', 'id', 'account', 'accounts',
  'mail', 'email', 'smtp', 'imap', 'pop', 'mx', 'ns', 'ns1', 'ns2', 'dns',
  'static', 'assets', 'cdn', 'media', 'files', 'uploads', 'docs', 'status', 'health', 'metrics',
  'console', 'dashboard', 'gateway', 'internal', 'localhost', 'local', 'root', 'system', 'superadmin',
]);

/** The public shape of a tenant (admin API, internal resolve endpoint). */
export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  settings: TenantSettings & Record<string, unknown>;
  createdAt: string;
}

/** A tenant row as the API shows it. */
export function toTenant(row: TenantRow): Tenant {
  const settings = typeof row.settings === 'string' ? (JSON.parse(row.settings) as Tenant['settings']) : ((row.settings ?? {}) as Tenant['settings']);
  return { id: row.id, slug: row.slug, name: row.name, status: row.status, settings, createdAt: new Date(row.created_at).toISOString() };
}

/**
 * The canonical slug for `input` (trimmed, lower-case: DNS names are case-insensitive), or
 * throws 400 `invalid_slug` (not a DNS label, or an IDNA-reserved `ab--` form) or
 * `reserved_slug`.
 */
export function normalizeSlug(input: string): string {
  const slug = input.trim().toLowerCase();
  if (!SLUG_RE.test(slug)) {
    throw tenantErrors.invalidSlug('A slug is a DNS label: 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen.');
  }
  // Labels with hyphens in positions 3-4 are reserved for IDNA ("xn--…" punycode), which
  // would let a tenant look like another one in a browser's address bar.
  if (slug.length >= 4 && slug.slice(2, 4) === '--') {
    throw tenantErrors.invalidSlug('A slug must not have "--" in its third and fourth characters (reserved for internationalised names).');
  }
  if (RESERVED_SLUGS.has(slug)) throw tenantErrors.reservedSlug(slug);
  return slug;
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
        const row = await findTenantBySlug(db.admin, by.slug.toLowerCase());
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

/** Throws 403 `registration_disabled` when the tenant turned self-registration off. */
export function assertSelfRegistration(t: Tenant): void {
  if (!selfRegistrationOpen(t)) throw tenantErrors.registrationDisabled();
}
