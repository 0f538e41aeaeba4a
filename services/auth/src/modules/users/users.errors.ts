import { AppError } from '@gatehouse/platform/errors';

/** Errors of user accounts. */
export const userErrors = {
  emailTaken: () => new AppError('email_taken', 409, { detail: 'An account with this email already exists.' }),
  usernameTaken: () => new AppError('username_taken', 409, { detail: 'This username is taken.' }),
  notFound: () => new AppError('not_found', 404, { detail: 'No such user.' }),
};
