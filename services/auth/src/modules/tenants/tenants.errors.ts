import { AppError } from '@gatehouse/platform/errors';

/** Errors of the tenants feature. */
export const tenantErrors = {
  notFound: () => new AppError('tenant_not_found', 404, { detail: 'No active tenant matches this request.' }),
  badQuery: () => new AppError('validation_failed', 400, { detail: 'Give exactly one of slug or id.', errors: [{ path: 'querystring', message: 'needs slug or id' }] }),
};
