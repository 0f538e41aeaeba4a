import { AppError } from '@gatehouse/platform/errors';

/** Errors of the tenants feature (codes are part of the API contract, docs/tenancy.md). */
export const tenantErrors = {
  /** Unknown or disabled tenant; a disabled one is not told apart, as at the gateway. */
  notFound: () => new AppError('tenant_not_found', 404, { detail: 'No active tenant matches this request.' }),
  /** Admin lookups by id: the tenant does not exist (disabled ones are found). */
  noSuchTenant: () => new AppError('tenant_not_found', 404, { detail: 'No tenant has this id.' }),
  badQuery: () => new AppError('validation_failed', 400, { detail: 'Give exactly one of slug or id.', errors: [{ path: 'querystring', message: 'needs slug or id' }] }),
  invalidSlug: (detail: string) => new AppError('invalid_slug', 400, { detail, errors: [{ path: 'body.slug', message: detail }] }),
  reservedSlug: (slug: string) =>
    new AppError('reserved_slug', 400, {
      detail: `"${slug}" is reserved for the deployment itself; choose another slug.`,
      errors: [{ path: 'body.slug', message: 'is reserved' }],
    }),
  slugTaken: (slug: string) => new AppError('slug_taken', 409, { detail: `A tenant with the slug "${slug}" already exists.` }),
  defaultTenant: () => new AppError('default_tenant', 409, { detail: 'The default tenant cannot be disabled: the deployment and its superadmins live in it.' }),
  /** Tenant management is for superadmins of the default (operator) tenant. */
  superadminOnly: () => new AppError('forbidden', 403, { detail: 'Managing tenants needs the superadmin role in the default tenant.' }),
  registrationDisabled: () =>
    new AppError('registration_disabled', 403, { detail: 'This tenant does not allow self-registration; ask an administrator for an account.' }),
  badCursor: () =>
    new AppError('validation_failed', 400, { detail: 'The cursor is not valid.', errors: [{ path: 'querystring.cursor', message: 'is not a cursor returned by this API' }] }),
};
