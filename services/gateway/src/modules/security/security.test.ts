import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTenant, startStack, type Stack } from '../../testing/fixtures';
import { API_CSP, DOCS_CSP, HSTS, helmetHeaders } from './security.hooks';

describe('security: CORS allow-list', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      env: { BASE_DOMAIN: 'example.test', CORS_ORIGINS: 'https://app.example.test, http://localhost:5173', RATE_LIMIT_CREDENTIALS_MAX: '1' },
      tenants: [makeTenant('default'), makeTenant('acme', { settings: { allowedOrigins: ['https://acme-shop.test', 'not an origin', '*'] } }), makeTenant('globex')],
    });
  });
  after(async () => {
    await s.close();
  });

  const call = (origin: string, host = 'localhost', url = '/api/v1/users/me', method: 'GET' | 'OPTIONS' = 'GET', extra: Record<string, string> = {}) =>
    s.app.inject({ method, url, headers: { origin, host, ...extra } });

  test('a listed origin is reflected with credentials; Vary: Origin is set', async () => {
    const res = await call('https://app.example.test');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.test');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.match(String(res.headers.vary), /origin/i);
    assert.match(String(res.headers['access-control-expose-headers']), /x-request-id/);
  });

  test('an unlisted origin gets no CORS headers (and never *)', async () => {
    for (const origin of ['https://evil.test', 'null', 'https://app.example.test.evil.test', 'https://app.example.test:8443']) {
      const res = await call(origin);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(res.headers['access-control-allow-credentials'], undefined, origin);
    }
  });

  test("the tenant's own origins count on that tenant only; its '*' is ignored", async () => {
    const own = await call('https://acme-shop.test', 'acme.example.test');
    assert.equal(own.headers['access-control-allow-origin'], 'https://acme-shop.test');
    assert.equal(own.headers['access-control-allow-credentials'], 'true');
    const other = await call('https://acme-shop.test', 'globex.example.test');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const star = await call('https://anything.test', 'acme.example.test');
    assert.equal(star.headers['access-control-allow-origin'], undefined);
  });

  test('preflight: allowed origin gets 204 with methods and the asked headers; others 404 problem', async () => {
    const ok = await call('https://app.example.test', 'localhost', '/api/v1/auth/login', 'OPTIONS', {
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    });
    assert.equal(ok.statusCode, 204);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.test');
    assert.match(String(ok.headers['access-control-allow-methods']), /POST/);
    assert.equal(ok.headers['access-control-allow-headers'], 'content-type, authorization');
    assert.equal(ok.headers['access-control-max-age'], '600');
    const no = await call('https://evil.test', 'localhost', '/api/v1/auth/login', 'OPTIONS', { 'access-control-request-method': 'POST' });
    assert.equal(no.statusCode, 404);
    assert.match(String(no.headers['content-type']), /^application\/problem\+json/);
  });

  test('a 429 still carries CORS headers, so the browser app can read Retry-After', async () => {
    const headers = { 'content-type': 'application/json' };
    await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { ...headers, origin: 'https://app.example.test' }, payload: '{}' });
    const res = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { ...headers, origin: 'https://app.example.test' }, payload: '{}' });
    assert.equal(res.statusCode, 429);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.test');
  });
});

describe('security: wildcard CORS_ORIGINS', () => {
  test('* allows any origin without credentials', async () => {
    const s = await startStack({ env: { CORS_ORIGINS: '*,https://app.example.test' } });
    try {
      const any = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { origin: 'https://random.test' } });
      assert.equal(any.headers['access-control-allow-origin'], '*');
      assert.equal(any.headers['access-control-allow-credentials'], undefined);
      const listed = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { origin: 'https://app.example.test' } });
      assert.equal(listed.headers['access-control-allow-origin'], 'https://app.example.test');
      assert.equal(listed.headers['access-control-allow-credentials'], 'true');
    } finally {
      await s.close();
    }
  });
});

describe('security: headers', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ env: { BASE_DOMAIN: 'example.test' } });
  });
  after(async () => {
    await s.close();
  });

  test('API answers, errors included: nosniff, DENY, strict CSP', async () => {
    for (const url of ['/api/v1/users/me', '/nope', '/openapi.json', '/healthz']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(res.headers['x-frame-options'], 'DENY', url);
      assert.equal(res.headers['content-security-policy'], API_CSP, url);
      // every header helmet sets with the gateway's options, computed once (helmetHeaders)
      for (const [name, value] of Object.entries(helmetHeaders())) assert.equal(res.headers[name], value, `${url} ${name}`);
    }
  });

  test("helmet's headers as the gateway sets them", () => {
    const headers = helmetHeaders();
    assert.equal(headers['cross-origin-resource-policy'], 'same-site');
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.equal(headers['content-security-policy'], undefined, 'the CSP is set per kind of page');
    assert.equal(headers['strict-transport-security'], undefined, 'HSTS is set only off localhost');
  });

  test('HSTS only off localhost', async () => {
    for (const host of ['localhost:3000', '127.0.0.1', '[::1]:3000', 'app.localhost']) {
      const res = await s.app.inject({ method: 'GET', url: '/healthz', headers: { host } });
      assert.equal(res.headers['strict-transport-security'], undefined, host);
    }
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { host: 'acme.example.test' } });
    assert.equal(res.headers['strict-transport-security'], HSTS);
  });

  test('the docs page gets its own CSP: scripts only from the gateway itself', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-security-policy'], DOCS_CSP);
    assert.doesNotMatch(DOCS_CSP, /script-src[^;]*(unsafe-inline|unsafe-eval|https?:)/);
    const landing = await s.app.inject({ method: 'GET', url: '/' });
    // the console at / (its own CSP: scripts and styles from the gateway only)
    assert.match(String(landing.headers['content-security-policy']), /^default-src 'none'; script-src 'self'; style-src 'self';/);
  });
});
