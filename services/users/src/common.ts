/**
 * Small pieces every module of the users service shares: the problem+json responses
 * (the contracts' ProblemSchema), nullable string fields, reading list cursors, the event source name.
 */
import { Type } from 'typebox';
import { AppError } from '@gatehouse/platform/errors';
import { decodeCursor } from '@gatehouse/platform/formats';

/** CloudEvents `source` of everything this service publishes. */
export const EVENT_SOURCE = 'gatehouse/users';

/** Where avatars are served; the public URL of one is this plus its object id. */
export const AVATAR_PATH = '/api/v1/users/avatars';

/** Statuses every authenticated route can answer with. */
export const AUTH_ERRORS = [400, 401, 403] as const;

/**
 * A string that may also be `null` (to clear a field). Written as `type: [string, null]` and
 * not as anyOf: Ajv's type coercion would otherwise turn `null` into `""` in the string branch.
 */
export function nullableString(opts: { minLength?: number; maxLength: number; pattern?: string; description?: string; format?: string }) {
  return Type.Unsafe<string | null>({ type: ['string', 'null'], ...opts });
}

/** Printable text on one line: no control characters. */
export const ONE_LINE = '^[^\\u0000-\\u001F\\u007F]*$';
/** Printable text that may contain line breaks (\n) but no other control characters. */
export const MULTI_LINE = '^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F]*$';

/** `{ id }` path parameter. */
export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Reads a list cursor (platform `decodeCursor`); a 400 for anything else. */
export function readCursor(cursor: string): { at: Date; id: string } {
  const c = decodeCursor(cursor);
  if (c) return { at: new Date(c.key), id: c.id };
  throw new AppError('validation_failed', 400, {
    detail: 'The cursor is not valid.',
    errors: [{ path: 'querystring.cursor', message: 'is not a cursor returned by this API' }],
  });
}
