import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of admin user management. */
export const adminUserErrors = {
  notFound: () => new AppError('not_found', 404, { detail: 'No such user in this tenant.' }),
  superadminOnly: () => errors.forbidden('Only a superadmin may grant, remove or act on the superadmin role.'),
  selfLockout: () =>
    new AppError('self_lockout', 409, { detail: 'You cannot remove your own admin role, disable or delete your own account.' }),
  disabled: () => new AppError('account_disabled', 409, { detail: 'The account is disabled: enable it before sending a password reset.' }),
  badCursor: () => errors.validation([{ path: 'querystring.cursor', message: 'is not a cursor returned by this endpoint' }]),
};
