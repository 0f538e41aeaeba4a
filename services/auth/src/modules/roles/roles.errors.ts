import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of custom roles (codes in API.md "Users and roles for administrators"). */
export const roleErrors = {
  exists: (name: string) => new AppError('role_exists', 409, { detail: `A role named "${name}" already exists in this tenant.` }),
  builtin: (name: string) => new AppError('role_builtin', 409, { detail: `"${name}" is a built-in role: it cannot be changed or deleted.` }),
  notFound: () => new AppError('not_found', 404, { detail: 'No such role in this tenant.' }),
  unknown: (path: string, names: string[]) => errors.validation([{ path, message: `names roles this tenant does not define: ${names.join(', ')}` }]),
};
