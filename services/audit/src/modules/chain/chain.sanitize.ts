/**
 * What may be stored in an entry. Producers already leave secrets out of their events; this
 * is defence in depth, so a careless producer (or a client's social-log payload) cannot put
 * a password, token or one-time code into a log that is kept forever. It also makes every
 * value storable: PostgreSQL refuses NUL characters and lone surrogates in text and jsonb,
 * and an event the database refuses would otherwise be redelivered forever.
 */

/** Placeholder for values cut by {@link sanitizeData}. */
export const REDACTED = '[redacted]';

// Keys compared lower-cased with `_` and `-` removed, so `new_password`, `X-Api-Key`,
// `mfaToken` and `backupCodes` are all caught.
const SECRET_KEY_PART = /password|passwd|passphrase|secret|token|authorization|cookie|apikey|privatekey|credential(?!id)/;
const SECRET_KEY_END = /(code|codes|hash|otp|pin)$/;
// A JWT (header.payload.signature, each base64url, header starting with `{"`), or a bearer
// credential, anywhere in a string value.
const JWT_VALUE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+/g;
const BEARER_VALUE = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi;

// String.prototype.toWellFormed is ES2024, beyond the lib this repo compiles against.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Deeper values are replaced: nothing legitimate nests this far, and recursion must stay bounded. */
const MAX_DEPTH = 16;
/** Longest string kept inside `data` (characters). */
const MAX_STRING = 4096;

/** True when a property name looks like it holds a credential. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[_-]/g, '');
  return SECRET_KEY_PART.test(k) || SECRET_KEY_END.test(k);
}

/** A string PostgreSQL accepts: no NUL, no lone surrogates, bounded, credentials masked. */
export function cleanString(s: string, max = MAX_STRING): string {
  let out = s.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '\uFFFD');
  out = out.replace(JWT_VALUE, REDACTED).replace(BEARER_VALUE, (_m: string, scheme: string) => `${scheme} ${REDACTED}`);
  return out.length > max ? out.slice(0, max) : out;
}

/** A short text column (ip, user agent, ids): a string, cleaned and cut, or null. */
export function cleanText(v: unknown, max: number): string | null {
  if (typeof v !== 'string' || v.length === 0) return null;
  return cleanString(v, max);
}

function clean(value: unknown, depth: number): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return cleanString(value);
    case 'number':
      // JSON has no NaN or Infinity
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'object': {
      if (depth >= MAX_DEPTH) return '[too deep]';
      if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (isSecretKey(k)) continue;
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') continue;
        // defineProperty, not assignment: a `__proto__` key from parsed JSON stays a plain key
        Object.defineProperty(out, cleanString(k, 256), { value: clean(v, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      return null;
  }
}

/**
 * The `data` of an entry: always a JSON object (a non-object payload is kept under `value`),
 * with secret-looking keys removed at any depth and every string made storable.
 */
export function sanitizeData(data: unknown): Record<string, unknown> {
  if (data === undefined || data === null) return {};
  const cleaned = clean(data, 0);
  if (cleaned !== null && typeof cleaned === 'object' && !Array.isArray(cleaned)) return cleaned as Record<string, unknown>;
  return { value: cleaned };
}
