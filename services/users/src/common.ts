/**
 * Small pieces every module of the users service shares: the problem+json response schema,
 * nullable string fields, opaque list cursors, the event source name.
 */
import { Type, type TSchema } from 'typebox';
import { AppError } from '@gatehouse/platform/errors';

/** CloudEvents `source` of everything this service publishes. */
export const EVENT_SOURCE = 'gatehouse/users';

/** Where avatars are served; the public URL of one is this plus its object id. */
export const AVATAR_PATH = '/api/v1/users/avatars';

const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'stable snake_case error code' }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { description: 'RFC 9457 problem details' },
);

/** Response schemas for the error statuses a route can answer with. */
export function problems(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) out[s] = Problem;
  return out;
}

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

/** An opaque keyset cursor: the sort key and id of the last row of a page. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

/** Reads a cursor made by {@link encodeCursor}; a 400 for anything else. */
export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') {
      const at = new Date(v[0]);
      if (!Number.isNaN(at.getTime()) && /^[0-9a-f-]{36}$/i.test(v[1])) return { at, id: v[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new AppError('validation_failed', 400, {
    detail: 'The cursor is not valid.',
    errors: [{ path: 'querystring.cursor', message: 'is not a cursor returned by this API' }],
  });
}

/** A timestamp as the API writes it (RFC 3339, UTC). */
export function iso(d: Date | string): string {
  return (d instanceof Date ? d : new Date(d)).toISOString();
}
