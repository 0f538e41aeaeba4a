import { eventually as poll } from '@gatehouse/platform/testing';
/**
 * A small HTTP client for the black-box suites: JSON requests against a base URL, account
 * factories (register, login), and polling. Test-only module.
 */
import { randomBytes } from 'node:crypto';

/** A response with its body read: parsed JSON when it is JSON, else text in `text`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are arbitrary JSON that the assertions read; typing each would restate the API schemas
export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Options of {@link call}. */
export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends `method path` to `baseUrl` with an optional bearer token and JSON body. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are arbitrary JSON that the assertions read; typing each would restate the API schemas
export async function call<T = any>(baseUrl: string, method: string, path: string, o: CallOptions = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const body = /^application\/(problem\+)?json/.test(type) && text ? (JSON.parse(text) as T) : (text as T);
  return { status: res.status, headers: res.headers, body, text };
}

/** Unique e-mail addresses per test process, so files can share servers. */
const run = randomBytes(4).toString('hex');
let n = 0;
export function uniqueEmail(label = 'user'): string {
  n += 1;
  return `${label}-${run}-${n}@example.test`;
}

/** An account as a test holds it. */
export interface Account {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

const PASSWORD = 'correct horse battery staple 7';

/** Registers a new account through `baseUrl`; fails the test unless the answer is 201. */
export async function register(baseUrl: string, over: { email?: string; password?: string } = {}): Promise<Account> {
  const email = over.email ?? uniqueEmail();
  const password = over.password ?? PASSWORD;
  const r = await call(baseUrl, 'POST', '/api/v1/auth/register', { body: { email, password } });
  if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${r.text}`);
  return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken };
}

/** Logs in; fails unless 200 with tokens (no MFA in these suites). */
export async function login(baseUrl: string, email: string, password: string): Promise<Account> {
  const r = await call(baseUrl, 'POST', '/api/v1/auth/login', { body: { email, password } });
  if (r.status !== 200 || !r.body.accessToken) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken };
}

/** Retries `check` until it stops throwing; rethrows its last error after `timeoutMs`. */
export const eventually = <T>(check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 50): Promise<T> => poll(check, timeoutMs, intervalMs);

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Reads an NDJSON export body into objects. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are arbitrary JSON that the assertions read; typing each would restate the API schemas
export function ndjson<T = any>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Every audit entry of the caller's tenant with this type, oldest first (admin token; NDJSON export). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are arbitrary JSON that the assertions read; typing each would restate the API schemas
export async function auditEntriesOfType(baseUrl: string, adminToken: string, type: string): Promise<any[]> {
  const r = await call<string>(baseUrl, 'GET', `/api/v1/audit/events?type=${encodeURIComponent(type)}&format=ndjson`, { token: adminToken });
  if (r.status !== 200) throw new Error(`audit export: ${r.status} ${r.text}`);
  return ndjson(r.text);
}
