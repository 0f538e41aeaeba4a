/**
 * Values every service writes and reads the same way: ids (UUIDs), opaque keyset cursors of
 * paged lists, and timestamps as the API writes them.
 */

/** A UUID in its canonical text form (any version), case-insensitive. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in canonical text form. */
export function isUuid(value: unknown): boolean {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** A timestamp as the API writes it (RFC 3339, UTC); null stays null. */
export function iso(d: Date | string): string;
export function iso(d: Date | string | null): string | null;
export function iso(d: Date | string | null): string | null {
  return d === null ? null : (d instanceof Date ? d : new Date(d)).toISOString();
}

/**
 * An opaque keyset cursor: the sort key (a timestamp) and the id of the last row of a page.
 * A Date key is written as ISO text; a string key as given (it keeps the database's precision).
 */
export function encodeCursor(key: Date | string, id: string): string {
  return Buffer.from(JSON.stringify([key instanceof Date ? key.toISOString() : key, id])).toString('base64url');
}

/** Reads a cursor made by {@link encodeCursor}; undefined for anything else (the caller answers 400). */
export function decodeCursor(cursor: string): { key: string; id: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && isUuid(v[1])) return { key: v[0], id: v[1] };
  } catch {
    // not JSON in base64url: not a cursor
  }
  return undefined;
}
