/** Error codes of the entries feature. */
import { AppError } from '@gatehouse/platform/errors';

export const entriesErrors = {
  invalidCursor: () => new AppError('invalid_cursor', 400, { detail: 'The cursor is not one this endpoint returned.' }),
  invalidRange: () => new AppError('validation_failed', 400, {
    detail: 'The request is not valid.',
    errors: [{ path: 'querystring.to', message: 'must be later than from' }],
  }),
};
