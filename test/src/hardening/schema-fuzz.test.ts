/**
 * Issue 9 (hardening): schema fuzzing of EVERY operation in the gateway's merged
 * `/openapi.json`, through the whole system (gateway → service → PostgreSQL/Redis/NATS).
 * Each operation gets, from a base request built from its own schemas: wrong types for every
 * body property, query parameter and path parameter; NUL and lone surrogates in every string;
 * huge strings; deep nesting; `__proto__`/`constructor` keys; bodies of the wrong shape.
 * Not one answer may be a 5xx, and nothing may pollute Object.prototype.
 *
 * Admin operations run as the superadmin; every other operation as a freshly registered user
 * of its own (a fuzzed logout or password change must not disarm the next operation's token).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- OpenAPI schemas are free-form JSON
type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: 'path' | 'query' | 'header'; schema: Schema; required?: boolean }>;
  body?: Schema;
  bodyType?: string;
}

let h: TestSystem;
let doc: Schema;
before(async () => {
  // failures from one address must not lock the address out half-way through the run
  h = await startTestSystem({ baseDomain: BASE_DOMAIN, env: { THROTTLE_IP_MAX_FAILURES: '1000000', THROTTLE_ACCOUNT_MAX_FAILURES: '100' } });
  const r = await h.request('GET', '/openapi.json');
  assert.equal(r.status, 200);
  doc = r.body;
});
after(async () => {
  await h?.close();
});

function deref(s: Schema | undefined): Schema {
  let cur = s ?? {};
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
    const name = cur.$ref.replace('#/components/schemas/', '');
    cur = doc.components?.schemas?.[name] ?? {};
  }
  return cur;
}

/** The first variant of a union that is not null. */
function pick(s: Schema): Schema {
  const d = deref(s);
  const alts = d.anyOf ?? d.oneOf;
  if (Array.isArray(alts)) return pick(alts.find((a: Schema) => deref(a).type !== 'null') ?? alts[0]);
  return d;
}

/** A value the schema most likely accepts (good enough as the base the mutations start from). */
function sample(s: Schema, depth = 0): unknown {
  const d = pick(s);
  if (d.const !== undefined) return d.const;
  if (Array.isArray(d.enum)) return d.enum[0];
  if (d.default !== undefined) return d.default;
  const type = Array.isArray(d.type) ? d.type.find((t: string) => t !== 'null') : d.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth > 4) return out;
      for (const [k, v] of Object.entries<Schema>(d.properties ?? {})) out[k] = sample(v, depth + 1);
      return out;
    }
    case 'array':
      return d.minItems ? Array.from({ length: d.minItems }, () => sample(d.items ?? {}, depth + 1)) : [];
    case 'integer':
    case 'number':
      return d.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string': {
      if (d.format === 'email') return `fuzz-${randomUUID().slice(0, 8)}@example.test`;
      if (d.format === 'uuid') return randomUUID();
      if (d.format === 'date-time') return new Date().toISOString();
      if (d.format === 'uri') return 'https://example.test/';
      const base = 'Fuzz value 123';
      return d.minLength && d.minLength > base.length ? base.padEnd(d.minLength, 'x') : d.maxLength ? base.slice(0, d.maxLength) : base;
    }
    default:
      return 'x';
  }
}

function operations(): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<Schema>(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      const content = op.requestBody?.content ?? {};
      const bodyType = Object.keys(content)[0];
      ops.push({
        method: method.toUpperCase(),
        path,
        params: [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: Schema) => ({ ...p, schema: deref(p.schema) }) as Operation['params'][number]),
        body: bodyType ? deref(content[bodyType].schema) : undefined,
        bodyType,
      });
    }
  }
  return ops;
}

const NUL = '\u0000';
const SURROGATE = '\ud800';
const HUGE = 'x'.repeat(200_000);
const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
};

/** Bad stand-ins for one value: other types, poisoned strings, huge, deep. */
function badValues(): unknown[] {
  return [123, -1.5, true, null, [], {}, ['a', 'b'], 'plain', '', NUL, `a${NUL}b`, SURROGATE, `x${SURROGATE}`, '\udc00', HUGE, deepObject(64)];
}

/** Query/path stand-ins, already encoded for the URL. */
const BAD_URL_VALUES = ['%00', 'a%00b', '%ED%A0%80', '%C0%80', '%FF', 'abc', '-1', '1e309', '99999999999999999999', `${'y'.repeat(3000)}`, '..', '%2e%2e', '__proto__', '%7B%7D', ''];

interface Case {
  label: string;
  url: string;
  body?: string;
  contentType?: string;
}

function pathWith(op: Operation, override?: [string, string]): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) => (override && override[0] === name ? override[1] : encodeURIComponent(String(sample(op.params.find((p) => p.name === name)?.schema ?? { type: 'string', format: 'uuid' })))));
}

function queryWith(op: Operation, override?: [string, string]): string {
  const parts: string[] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (override && override[0] === p.name) parts.push(`${encodeURIComponent(p.name)}=${override[1]}`);
    else if (p.required) parts.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(String(sample(p.schema)))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function cases(op: Operation): Case[] {
  const out: Case[] = [];
  const url = pathWith(op) + queryWith(op);
  const json = op.bodyType === 'application/json' || (op.bodyType === undefined && op.method !== 'GET' && op.method !== 'DELETE');
  if (json) {
    const base = (op.body ? sample(op.body) : {}) as Record<string, unknown>;
    const obj = base && typeof base === 'object' && !Array.isArray(base) ? base : {};
    const props = Object.keys(deref(pick(op.body ?? {})).properties ?? {});
    out.push({ label: 'base', url, body: JSON.stringify(obj) });
    for (const prop of props) {
      for (const bad of badValues()) out.push({ label: `body.${prop}=${JSON.stringify(bad)?.slice(0, 40)}`, url, body: JSON.stringify({ ...obj, [prop]: bad }) });
      out.push({ label: `body.${prop} deep`, url, body: JSON.stringify(obj).replace(/}$/, `${Object.keys(obj).length ? ',' : ''}${JSON.stringify(prop)}:${deepArray(5000)}}`) });
    }
    const rest = JSON.stringify(obj).slice(1);
    const withKeys = (keys: string) => `{${keys}${rest === '}' ? '}' : `,${rest}`}`;
    out.push({ label: '__proto__ key', url, body: withKeys('"__proto__":{"polluted":true,"roles":["superadmin"]}') });
    out.push({ label: 'constructor.prototype key', url, body: withKeys('"constructor":{"prototype":{"polluted":true}}') });
    out.push({ label: 'NUL key', url, body: withKeys('"\\u0000":"x"') });
    out.push({ label: 'surrogate key', url, body: withKeys('"\\udfff":"x"') });
    for (const whole of ['[]', '"text"', '42', 'null', 'true', '{', '{"a":1,}', deepArray(10000), JSON.stringify(deepObject(2000)), `"${HUGE}"`, '"\\u0000"']) {
      out.push({ label: `body ${whole.slice(0, 20)}`, url, body: whole });
    }
    out.push({ label: 'body as form', url, body: 'a=1&b=%00', contentType: 'application/x-www-form-urlencoded' });
  }
  for (const p of op.params.filter((x) => x.in === 'query')) {
    for (const v of BAD_URL_VALUES) out.push({ label: `query ${p.name}=${v.slice(0, 20)}`, url: pathWith(op) + queryWith(op, [p.name, v]) });
    out.push({ label: `query ${p.name} twice`, url: `${pathWith(op)}${queryWith(op)}${queryWith(op) ? '&' : '?'}${p.name}=1&${p.name}=2` });
  }
  for (const p of op.params.filter((x) => x.in === 'path')) {
    for (const v of BAD_URL_VALUES.filter((x) => x !== '')) out.push({ label: `path ${p.name}=${v.slice(0, 20)}`, url: pathWith(op, [p.name, v]) + queryWith(op) });
  }
  out.push({ label: 'query __proto__', url: `${url}${url.includes('?') ? '&' : '?'}__proto__[polluted]=1&constructor[prototype][polluted]=1` });
  return out;
}

test('every operation of /openapi.json survives schema fuzzing with zero 5xx', async (t) => {
  const ops = operations();
  assert.ok(ops.length >= 40, `the merged document lists the whole API (${ops.length} operations)`);
  const failures: string[] = [];
  let sent = 0;
  const statuses: Record<number, number> = {};
  let adminToken = await h.superadminToken();
  for (const op of ops) {
    const admin = op.path.startsWith('/api/v1/admin');
    // a user of its own per operation: fuzzed logouts and password changes stay contained
    let token = admin ? adminToken : (await h.register()).accessToken;
    for (const c of cases(op)) {
      const headers: Record<string, string> = {};
      if (c.body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
      let res = await h.request(op.method, c.url, { token, body: c.body, headers });
      if (res.status === 401 && res.body?.code === 'invalid_token') {
        // the previous case signed this token out (logout, logout-all, password change): renew, retry once
        if (admin) adminToken = token = (await h.login(h.superadmin.email, h.superadmin.password)).accessToken;
        else token = (await h.register()).accessToken;
        res = await h.request(op.method, c.url, { token, body: c.body, headers });
      }
      sent += 1;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (res.status >= 500) failures.push(`${op.method} ${op.path} [${c.label}] → ${res.status} ${res.text.slice(0, 200)}`);
      else if (res.status >= 400 && !String(res.headers['content-type']).startsWith('application/problem+json')) {
        failures.push(`${op.method} ${op.path} [${c.label}] → ${res.status} without problem+json: ${res.headers['content-type']}`);
      }
    }
  }
  t.diagnostic(`${ops.length} operations, ${sent} requests, statuses ${JSON.stringify(statuses)}`);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  assert.ok(sent > 1000, `${sent} requests sent`);
});
