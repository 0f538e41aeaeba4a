import { AppError } from '@gatehouse/platform/errors';

/** Errors of the password feature. */
export const passwordErrors = {
  weak: (detail: string) => new AppError('weak_password', 400, { detail }),
};
