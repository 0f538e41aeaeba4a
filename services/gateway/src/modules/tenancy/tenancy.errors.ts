/** Error codes of tenant resolution (API.md "Tenant", docs/tenancy.md). */
import { AppError } from '@gatehouse/platform';

export const tenancyErrors = {
  /** the subdomain or X-Tenant value is not a DNS label */
  invalidTenant: (detail = 'The tenant must be a DNS label: lowercase letters, digits and hyphens, at most 63 characters.') =>
    new AppError('invalid_tenant', 400, { detail }),
  /** no tenant with this slug, or it is disabled */
  tenantNotFound: (slug: string) => new AppError('tenant_not_found', 404, { detail: `No active tenant "${slug}".` }),
  /** the auth service could not be asked and nothing usable is cached */
  lookupUnavailable: (cause?: unknown) =>
    new AppError('service_unavailable', 503, {
      detail: 'The tenant could not be resolved right now; try again shortly.',
      headers: { 'retry-after': '5' },
      cause,
    }),
};
