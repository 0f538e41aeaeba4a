import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  assertRawProblem,
  closeTestSharedDeps,
  createTestSharedDeps,
  rawConnection,
  startPlatformUpstream,
  startStack,
  testConfig,
  type Echo,
  type Stack,
} from '../../testing/fixtures';
import { startService } from '@gatehouse/platform/service';
import { gatewayService } from '../../service';

const problemType = /^application\/problem\+json/;

describe('proxy: routing and headers', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ listen: true });
  });
  after(async () => {
    await s.close();
  });

  test('each area goes to its service, path and query unchanged', async () => {
    const cases: [string, string][] = [
      ['/api/v1/auth/login?x=1&y=%20z', 'auth'],
      ['/api/v1/admin/users?limit=5', 'auth'],
      ['/api/v1/users/me', 'users'],
      ['/api/v1/users', 'users'],
      ['/api/v1/events/123/check-ins', 'users'],
      ['/api/v1/audit/events?type=a.b', 'audit'],
      ['/api/v1/social-logs', 'audit'],
    ];
    for (const [url, service] of cases) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      const echo = res.json<Echo>();
      assert.equal(echo.service, service, url);
      assert.equal(echo.url, url);
    }
  });

  test('JWKS is forwarded to auth without a tenant lookup', async () => {
    const before = s.auth.counters.resolve;
    const res = await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<{ keys: unknown[] }>().keys.length, 1);
    assert.equal(s.auth.counters.resolve, before);
  });

  test('internal and unlisted paths are never forwarded: 404 problem+json', async () => {
    for (const url of ['/internal/tenants/resolve?slug=acme', '/api/v1/internal/x', '/api/v2/auth/login', '/api/v1/authx', '/nope']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.match(String(res.headers['content-type']), problemType);
      assert.equal(res.json().code, 'not_found');
    }
  });

  test('request id: a valid client id is passed on and echoed; otherwise one is made', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-request-id': 'req-abc.123' } });
    assert.equal(res.headers['x-request-id'], 'req-abc.123');
    assert.equal(res.json<Echo>().headers['x-request-id'], 'req-abc.123');
    const made = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-request-id': 'bad id with spaces' } });
    const id = String(made.headers['x-request-id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(made.json<Echo>().headers['x-request-id'], id);
  });

  test('spoofed internal headers are stripped; the resolved tenant is set', async () => {
    const res = await s.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: {
        'x-gatehouse-tenant': s.tenant('globex').id,
        'x-gatehouse-tenant-slug': 'globex',
        'x-gatehouse-user': 'admin',
        'x-tenant': 'acme',
      },
    });
    const h = res.json<Echo>().headers;
    assert.equal(h['x-gatehouse-tenant'], s.tenant('acme').id);
    assert.equal(h['x-gatehouse-tenant-slug'], 'acme');
    assert.equal(h['x-gatehouse-user'], undefined);
    assert.equal(h['x-tenant'], undefined);
  });

  test('hop-by-hop headers and the ones named in Connection are not forwarded', async () => {
    const res = await s.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', 'proxy-authorization': 'Basic eA==', te: 'trailers', 'x-kept': 'yes' },
    });
    const h = res.json<Echo>().headers;
    assert.equal(h['x-secret-hop'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h['te'], undefined);
    assert.equal(h['x-kept'], 'yes');
  });

  test('X-Forwarded-For is the socket address when no proxy is trusted (client value ignored)', async () => {
    const res = await fetch(`${s.url}/api/v1/users/me`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.test', 'x-forwarded-proto': 'https', forwarded: 'for=6.6.6.6' } });
    const h = ((await res.json()) as Echo).headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.match(String(h['x-forwarded-host']), /^127\.0\.0\.1:\d+$/);
    assert.equal(h['forwarded'], undefined);
  });

  test('bodies are forwarded unchanged, whatever their type', async () => {
    const json = JSON.stringify({ email: 'a@b.test', password: 'pässwörd 🔑' });
    const res = await s.app.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': 'application/json' }, payload: json });
    const echo = res.json<Echo>();
    assert.equal(echo.method, 'POST');
    assert.equal(echo.body, json);
    assert.equal(echo.headers['content-type'], 'application/json');
    const raw = await s.app.inject({ method: 'PUT', url: '/api/v1/users/me/avatar', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('abc') });
    assert.equal(raw.json<Echo>().body, 'abc');
  });

  test('upstream security and CORS headers do not override the gateway policy', async () => {
    const loose = {
      'content-security-policy': 'default-src *',
      'x-frame-options': 'ALLOWALL',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'x-gatehouse-internal': 'secret',
      'x-custom': 'kept',
    };
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-test-respond-headers': JSON.stringify(loose) } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    assert.equal(res.headers['x-gatehouse-internal'], undefined);
    assert.equal(res.headers['x-custom'], 'kept');
  });
});

describe('proxy: bad input gets 4xx problem+json', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ listen: true });
  });
  after(async () => {
    await s.close();
  });

  /** Sends raw bytes and returns the status line and the body. */
  function raw(request: string): Promise<{ status: number; contentType: string; body: string }> {
    const { port } = new URL(s.url!);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d) => (data += d));
      socket.on('error', reject);
      socket.on('end', () => {
        const [head = '', body = ''] = data.split('\r\n\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        const contentType = /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1] ?? '';
        resolve({ status, contentType, body });
      });
      setTimeout(() => socket.end(), 2000).unref();
    });
  }

  test('dot segments, encoded or not, are refused before forwarding (no path traversal to /internal)', async () => {
    // Raw requests: inject and fetch would normalise the dot segments away before sending.
    for (const url of [
      '/api/v1/users/../../internal/tenants/resolve?slug=acme',
      '/api/v1/users/%2e%2e/%2e%2e/internal/tenants/resolve',
      '/api/v1/users/.%2E/x',
      '/api/v1/users/./me',
      '/api/v1/users//me',
      '/api/v1/users/%5c..%5cinternal',
    ]) {
      const res = await raw(`GET ${url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 400, url);
      assert.match(res.contentType, problemType, url);
      assert.equal(JSON.parse(res.body).code, 'bad_request');
    }
  });

  test('malformed percent-encoding is a 400 problem', async () => {
    for (const url of ['/api/v1/users/%zz', '/api/v1/users/%', '/api/v1/auth/%E0%A4%A']) {
      const res = await s.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 400, url);
      assert.match(String(res.headers['content-type']), problemType);
    }
  });

  test('huge headers: 431 problem+json from the socket handler', async () => {
    const res = await raw(`GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(res.status, 431);
    assert.match(res.contentType, problemType);
    assert.equal(JSON.parse(res.body).code, 'headers_too_large');
  });

  test('garbage request line: 400 problem+json', async () => {
    const res = await raw('GET /a b c\r\n\r\n');
    assert.equal(res.status, 400);
    assert.match(res.contentType, problemType);
  });

  test('absolute-form target is not forwarded elsewhere', async () => {
    const res = await raw('GET http://evil.test/api/v1/users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    if (res.status === 200) {
      // Node normalises absolute-form to its path: it must still reach our users service only.
      assert.equal(JSON.parse(res.body).service, 'users');
    } else {
      assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    }
  });

  test('OPTIONS without CORS headers is a 404 problem, not forwarded', async () => {
    const res = await s.app.inject({ method: 'OPTIONS', url: '/api/v1/users/me' });
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers['content-type']), problemType);
  });
});

describe('proxy: header limits sit below the services\', and every edge error is problem+json', () => {
  let s: Stack;
  let users: Awaited<ReturnType<typeof startPlatformUpstream>>;
  before(async () => {
    // users is built like the real services (their server limits and error answers)
    users = await startPlatformUpstream('users');
    s = await startStack({ env: { USERS_URL: users.url }, listen: true });
  });
  after(async () => {
    await s.close();
    await users.close();
  });

  /** One request on a fresh raw connection; its answer. */
  async function send(request: string) {
    const c = await rawConnection(s.url!);
    try {
      await c.write(request);
      const answer = await c.next();
      assert.notEqual(answer, 'timeout', 'no answer');
      assert.notEqual(answer, 'closed', 'closed without an answer');
      return answer as Exclude<typeof answer, string>;
    } finally {
      c.close();
    }
  }

  test('a header just under the gateway limit reaches the service; just over it is 431 headers_too_large from the gateway', async () => {
    // ~16.2 KB of headers: once under Node's 16 KiB at the gateway but over it at the service
    const under = await send(`GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(16_200)}\r\n\r\n`);
    assert.equal(under.status, 200, under.body);
    assert.equal((JSON.parse(under.body) as Echo).service, 'users');
    const over = await send(`GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(16_400)}\r\n\r\n`);
    assertRawProblem(over, 431, 'headers_too_large');
  });

  test('too many header lines: 431 headers_too_large problem from the gateway', async () => {
    const lines = Array.from({ length: 995 }, (_, i) => `X-F${i}: 1\r\n`).join('');
    const res = await send(`GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\n${lines}\r\n`);
    assertRawProblem(res, 431, 'headers_too_large');
    const some = Array.from({ length: 60 }, (_, i) => `X-F${i}: 1\r\n`).join('');
    assert.equal((await send(`GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\n${some}\r\n`)).status, 200, 'a few dozen lines pass');
  });

  test('an HTTP/1.1 request without Host: 400 bad_request problem, not an empty 400', async () => {
    const res = await send('GET /api/v1/users/me HTTP/1.1\r\nAccept: */*\r\n\r\n');
    assertRawProblem(res, 400, 'bad_request');
  });

  test("a service's own edge errors are problem+json too (reached directly)", async () => {
    const c = await rawConnection(users.url);
    try {
      await c.write(`GET /x HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
      const res = await c.next();
      assertRawProblem(res, 431, 'headers_too_large');
    } finally {
      c.close();
    }
  });
});

describe('proxy: unavailable services', () => {
  test('an area whose service is not configured answers 503 service_unavailable', async () => {
    const s = await startStack({ env: { AUDIT_URL: '' } });
    try {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/audit/me' });
      assert.equal(res.statusCode, 503);
      assert.match(String(res.headers['content-type']), problemType);
      assert.equal(res.json().code, 'service_unavailable');
      const ok = await s.app.inject({ method: 'GET', url: '/api/v1/users/me' });
      assert.equal(ok.statusCode, 200);
    } finally {
      await s.close();
    }
  });

  test('an upstream that refuses connections: 503 upstream_unavailable, quickly', async () => {
    // A port that was just free: nothing listens there.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const s = await startStack({ env: { USERS_URL: `http://127.0.0.1:${port}` }, listen: true });
    try {
      const t0 = Date.now();
      // Real HTTP: with a body, undici destroys the request stream, which inject reports as a throw.
      const res = await fetch(`${s.url}/api/v1/users/me`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 503);
      assert.match(String(res.headers.get('content-type')), problemType);
      const body = (await res.json()) as { code: string; requestId?: string };
      assert.equal(body.code, 'upstream_unavailable');
      assert.ok(body.requestId);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.ok(Date.now() - t0 < 2000);
      const get = await s.app.inject({ method: 'GET', url: '/api/v1/users/me' });
      assert.equal(get.statusCode, 503);
    } finally {
      await s.close();
    }
  });

  test('an upstream that accepts but never answers: 504 upstream_unavailable after the timeout, no hang', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const s = await startStack({ env: { AUDIT_URL: `http://127.0.0.1:${port}` }, options: { upstreamTimeouts: { connectMs: 500, headersMs: 500, bodyMs: 500 } } });
    try {
      const t0 = Date.now();
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/audit/me' });
      assert.equal(res.statusCode, 504);
      assert.equal(res.json().code, 'upstream_unavailable');
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await s.close();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('no auth configured: tenant-scoped routes answer 503, not 500', async () => {
    const shared = await createTestSharedDeps();
    const gw = await startService(gatewayService, testConfig({}), shared);
    try {
      const res = await gw.app.inject({ method: 'GET', url: '/api/v1/users/me' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'service_unavailable');
      const ready = await gw.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
    } finally {
      await gw.close();
      await closeTestSharedDeps(shared);
    }
  });
});

describe('proxy: behind a trusted proxy (TRUST_PROXY)', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ env: { TRUST_PROXY: '127.0.0.1', BASE_DOMAIN: 'example.test', RATE_LIMIT_IP_MAX: '2' } });
  });
  after(async () => {
    await s.close();
  });

  test("the proxy's X-Forwarded-For/-Proto/-Host are believed: client address, https, tenant host", async () => {
    const res = await s.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'acme.example.test', host: 'gateway.internal:3000' },
    });
    assert.equal(res.statusCode, 200);
    const h = res.json<Echo>().headers;
    // Only the address the trusted proxy saw; the part before it came from the client.
    assert.equal(h['x-forwarded-for'], '203.0.113.9');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'acme.example.test');
    assert.equal(h['x-gatehouse-tenant-slug'], 'acme');
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
  });

  test('per-IP limits count each client behind the proxy separately', async () => {
    const from = (ip: string) => s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { 'x-forwarded-for': ip } });
    assert.equal((await from('192.0.2.10')).statusCode, 200);
    assert.equal((await from('192.0.2.10')).statusCode, 200);
    assert.equal((await from('192.0.2.10')).statusCode, 429);
    assert.equal((await from('192.0.2.11')).statusCode, 200);
  });
});
