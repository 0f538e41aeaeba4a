/**
 * The one HTTP client of the black-box suites: requests against any base URL (an in-process
 * system's gateway, a spawned process, nginx in front), the account helpers (register, login)
 * and small utilities. `system.ts` binds it to a running system. Test-only module.
 */
import { randomBytes } from 'node:crypto';
import { request as undiciRequest } from 'undici';

export { eventually } from '@gatehouse/platform/testing';

/** A password that passes the policy (at least 30 characters: fine for minimums up to 30). */
export const PASSWORD = 'correct horse battery staple 7';

/** A response with its body read: parsed JSON when it is JSON, else the text. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers; typing each would restate the API schemas
export interface Reply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

/** Options of {@link call}. */
export interface RequestOptions {
  /** bearer token */
  token?: string;
  /** a JSON body; a string or Buffer is sent as it is (content-type application/json unless `headers` say otherwise) */
  body?: unknown;
  /** tenant slug: sent as `Host: <slug>.<baseDomain>` (needs `baseDomain`) */
  tenant?: string;
  /** the base domain tenants live under (a system started with one sets it) */
  baseDomain?: string;
  /** the Host header itself (wins over `tenant`) */
  host?: string;
  headers?: Record<string, string>;
}

/** An account as a test holds it. */
export interface Account {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  /** the tenant slug it was created through (undefined: default tenant) */
  tenant?: string;
}

/** Sends `method path` to `baseUrl` and reads the answer. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
export async function call<T = any>(baseUrl: string, method: string, path: string, o: RequestOptions = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.host) headers.host = o.host;
  else if (o.tenant) {
    if (!o.baseDomain) throw new Error('a tenant slug needs the base domain it lives under');
    headers.host = `${o.tenant}.${o.baseDomain}`;
  }
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | Buffer | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === 'string' || Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await undiciRequest(`${baseUrl}${path}`, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  const type = String(res.headers['content-type'] ?? '');
  const parsed = /^application\/(problem\+)?json/.test(type) && text ? (JSON.parse(text) as T) : (text as T);
  return { status: res.statusCode, headers: res.headers, body: parsed, text };
}

/** Unique e-mail addresses per test process, so files can share servers. */
const run = randomBytes(4).toString('hex');
let counter = 0;
/** A fresh e-mail address. */
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${run}-${counter}@example.test`;
}

/** A fresh tenant slug (a DNS label). */
export function uniqueSlug(label = 't'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/** Registers a new account through `baseUrl`; throws unless the answer is 201. */
export async function register(
  baseUrl: string,
  o: { tenant?: string; baseDomain?: string; email?: string; password?: string; username?: string } = {},
): Promise<Account> {
  const email = o.email ?? uniqueEmail();
  const password = o.password ?? PASSWORD;
  const r = await call(baseUrl, 'POST', '/api/v1/auth/register', { tenant: o.tenant, baseDomain: o.baseDomain, body: { email, password, username: o.username } });
  if (r.status !== 201) throw new Error(`register ${email} on ${o.tenant ?? 'default'}: ${r.status} ${r.text}`);
  return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken, tenant: o.tenant };
}

/** Signs in; throws unless 200 with tokens (no MFA here). */
export async function login(baseUrl: string, email: string, password: string, o: { tenant?: string; baseDomain?: string } = {}): Promise<Account> {
  const r = await call(baseUrl, 'POST', '/api/v1/auth/login', { tenant: o.tenant, baseDomain: o.baseDomain, body: { email, password } });
  if (r.status !== 200 || !r.body.accessToken) throw new Error(`login ${email} on ${o.tenant ?? 'default'}: ${r.status} ${r.text}`);
  return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken, tenant: o.tenant };
}

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
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- export lines are arbitrary JSON the assertions read
export function ndjson<T = any>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Every audit entry of the caller's tenant with this type, oldest first (admin token; NDJSON export). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- export lines are arbitrary JSON the assertions read
export async function auditEntriesOfType(baseUrl: string, adminToken: string, type: string): Promise<any[]> {
  const r = await call<string>(baseUrl, 'GET', `/api/v1/audit/events?type=${encodeURIComponent(type)}&format=ndjson`, { token: adminToken });
  if (r.status !== 200) throw new Error(`audit export: ${r.status} ${r.text}`);
  return ndjson(r.text);
}
