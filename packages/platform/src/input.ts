/**
 * One rule for every string a client sends, applied before any schema or handler: no NUL
 * (PostgreSQL refuses 0x00 in text, so it would surface as a 500 from deep inside a query)
 * and no lone UTF-16 surrogate (not encodable as UTF-8: it would be silently replaced by
 * U+FFFD on the way to the database, so what is stored would not be what was checked).
 * Keys count as much as values, and JSON nested deeper than {@link MAX_JSON_DEPTH} is refused
 * too: no route takes anything near that deep, and walking it costs the server, not the sender.
 * Numbers must be finite: `1e309` becomes Infinity, which schema validation lets pass as an
 * integer below any maximum and which SQL then refuses; query and path values are checked
 * again after schema coercion turned them into numbers.
 *
 * Hand-written because it is one iterative walk over already-parsed values; a schema keyword
 * would have to be repeated on every string of every route (and would miss object keys).
 */
import type { FastifyRequest } from 'fastify';
import type { FieldError } from './errors';

/** Deepest nesting of objects and arrays accepted in a body. */
export const MAX_JSON_DEPTH = 32;

/** Why a string is refused, or undefined when it is fine. */
export function stringProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain the NUL character';
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/**
 * Walks a parsed value without recursion (a deep body must not exhaust the stack) and returns
 * the first problem found, with its path in the style of schema errors (`body.a.0.b`).
 */
export function findUnsafeInput(value: unknown, where: string): FieldError | undefined {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: where, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const p = stringProblem(v);
      if (p) return { path, message: p };
      continue;
    }
    // `1e309` parses (JSON) or coerces (query) to Infinity, which Ajv lets through as an integer
    if (typeof v === 'number' && !Number.isFinite(v)) return { path, message: 'must be a finite number' };
    // only what a parser built: plain objects and arrays (a proxied stream or a file part is not input text)
    if (!isPlainContainer(v)) continue;
    if (depth >= MAX_JSON_DEPTH) return { path, message: `is nested too deeply (at most ${MAX_JSON_DEPTH} levels)` };
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: `${path}.${i}`, depth: depth + 1 }));
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      // the key itself is shown escaped: it is the thing that cannot be printed as it is
      const keyProblem = stringProblem(key);
      if (keyProblem) return { path: `${path}.${JSON.stringify(key).slice(1, -1)}`, message: `has a key that ${keyProblem}` };
      stack.push({ v: item, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return undefined;
}

function isPlainContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  // fast-querystring's objects inherit from a prototype-less `Empty`: also a plain record
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/** The first unsafe value of a request's params, query or (parsed) body. */
export function unsafeRequestInput(req: Pick<FastifyRequest, 'params' | 'query' | 'body'>): FieldError | undefined {
  return findUnsafeInput(req.params, 'params') ?? findUnsafeInput(req.query, 'querystring') ?? findUnsafeInput(req.body, 'body');
}

/** The first non-finite number that schema coercion made of a query or path value. */
export function unsafeCoercedInput(req: Pick<FastifyRequest, 'params' | 'query'>): FieldError | undefined {
  return findUnsafeInput(req.params, 'params') ?? findUnsafeInput(req.query, 'querystring');
}
