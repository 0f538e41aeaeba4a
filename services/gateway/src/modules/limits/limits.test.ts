import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { createKvStore } from '@gatehouse/platform/kv';
import { createMemoryTransport } from '@gatehouse/platform/events';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { createMailer } from '@gatehouse/platform/mail';
import { testLogger } from '@gatehouse/platform/testing';
import { eventually } from '@gatehouse/platform/testing';
import { rawConnection, startStack } from '../../testing/fixtures';
import { isCredentialRequest } from './limits.hooks';

const limits = (ip: number, cred: number, user: number) => ({
  RATE_LIMIT_IP_MAX: String(ip),
  RATE_LIMIT_CREDENTIALS_MAX: String(cred),
  RATE_LIMIT_USER_MAX: String(user),
});

describe('limits', () => {
  test('per-IP: RateLimit headers on every answer, then 429 rate_limited problem with Retry-After', async () => {
    const s = await startStack({ env: limits(5, 0, 0) });
    try {
      for (let i = 1; i <= 5; i++) {
        const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me' });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['ratelimit-limit'], '5');
        assert.equal(res.headers['ratelimit-remaining'], String(5 - i));
        assert.ok(Number(res.headers['ratelimit-reset']) > 0);
      }
      // Any route counts, a 404 included.
      const res = await s.app.inject({ method: 'GET', url: '/nope' });
      assert.equal(res.statusCode, 429);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().code, 'rate_limited');
      assert.equal(res.headers['ratelimit-remaining'], '0');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      // Operations endpoints are not limited: an orchestrator's probes must not be refused.
      assert.equal((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await s.close();
    }
  });

  test('max 0 turns a limit off', async () => {
    const s = await startStack({ env: limits(0, 0, 0) });
    try {
      for (let i = 0; i < 30; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['ratelimit-limit'], undefined);
      }
    } finally {
      await s.close();
    }
  });

  test('credential endpoints are stricter, per IP, across all of them; other routes unaffected', async () => {
    const s = await startStack({ env: limits(100, 3, 0) });
    try {
      const urls = ['/api/v1/auth/login', '/api/v1/auth/register', '/api/v1/auth/password/forgot/'];
      for (const url of urls) {
        const res = await s.app.inject({ method: 'POST', url, payload: {} });
        assert.equal(res.statusCode, 200, url);
        assert.equal(res.headers['ratelimit-limit'], '3', 'the tighter limit is shown');
      }
      const blocked = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login/mfa', payload: {} });
      assert.equal(blocked.statusCode, 429);
      assert.equal(blocked.json().code, 'rate_limited');
      const other = await s.app.inject({ method: 'POST', url: '/api/v1/auth/logout' });
      assert.equal(other.statusCode, 200);
      assert.equal(other.headers['ratelimit-limit'], '100');
      assert.equal((await s.app.inject({ method: 'GET', url: '/api/v1/auth/login' })).statusCode, 200, 'GET is not a credential request');
    } finally {
      await s.close();
    }
  });

  test('percent-encoded credential paths count like the paths the service routes (login, register, password/forgot)', async () => {
    const s = await startStack({ env: limits(100, 5, 0) });
    try {
      for (let i = 1; i <= 5; i++) assert.equal((await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} })).statusCode, 200);
      assert.equal((await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} })).statusCode, 429);
      // The services' router decodes these to login, register and password/forgot.
      for (const url of ['/api/v1/auth/%6Cogin', '/api/v1/auth/%72egister', '/api/v1/auth/password/%66orgot', '/api/v1/auth/password%2Fforgot', '/api/v1/auth/%6c%6f%67%69%6e/']) {
        const res = await s.app.inject({ method: 'POST', url, payload: {} });
        assert.equal(res.statusCode, 429, url);
        assert.equal(res.json().code, 'rate_limited', url);
      }
    } finally {
      await s.close();
    }
  });

  test('per user, keyed by the verified token subject', async () => {
    const s = await startStack({ env: limits(100, 0, 2) });
    try {
      const t = s.tenant('default');
      const sub = '6f1b2c3d-0000-4000-8000-000000000001';
      const a1 = await s.auth.mint(t, { claims: { sub } });
      const a2 = await s.auth.mint(t, { claims: { sub } });
      const b = await s.auth.mint(t);
      const call = (token?: string) => s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal((await call(a1)).statusCode, 200);
      assert.equal((await call(a2)).statusCode, 200, 'another token of the same user shares the budget');
      const blocked = await call(a1);
      assert.equal(blocked.statusCode, 429);
      assert.equal(blocked.json().code, 'rate_limited');
      assert.equal((await call(b)).statusCode, 200, 'another user is not affected');
      assert.equal((await call()).statusCode, 200, 'anonymous requests are not user-limited');
    } finally {
      await s.close();
    }
  });

  test('in-flight requests per client IP are capped: 429 rate_limited while the cap is used, served again once they end', async () => {
    const s = await startStack({ env: { ...limits(0, 0, 0), MAX_IN_FLIGHT_PER_IP: '3', REQUEST_TIMEOUT_SEC: '4', HEADERS_TIMEOUT_SEC: '2' }, listen: true });
    const slow = await Promise.all([0, 1, 2].map(() => rawConnection(s.url!)));
    try {
      // three bodies that never finish: each request stays in progress
      for (const c of slow) await c.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
      await eventually(async () => {
        const res = await fetch(`${s.url}/api/v1/users/me`);
        assert.equal(res.status, 429);
        assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
        assert.equal(((await res.json()) as { code: string }).code, 'rate_limited');
        assert.equal(res.headers.get('retry-after'), '1');
      }, 5000);
      // operations endpoints are never refused
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      // the slow ones are cut by the request timeout; the cap is free again
      for (const c of slow) assert.equal(((await c.next(8000)) as { status: number }).status, 408);
      await eventually(async () => assert.equal((await fetch(`${s.url}/api/v1/users/me`)).status, 200), 5000);
    } finally {
      for (const c of slow) c.close();
      await s.close();
    }
  });

  test('when the limit store fails, traffic passes (skipOnError)', async () => {
    // A Redis nobody listens on: every counter operation fails fast.
    const kv = createKvStore({ url: 'redis://127.0.0.1:1', logger: testLogger, connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const memory = createKvStore({ logger: testLogger });
    const revocations = createRevocationList({ kv: memory, logger: testLogger });
    await revocations.start();
    const shared = {
      logger: testLogger,
      kv,
      transport: createMemoryTransport({ logger: testLogger }),
      revocations,
      mailer: createMailer({ from: 'test@localhost', logger: testLogger }),
      registry: new client.Registry(),
      prefix: 'ghgw-deadredis',
    };
    const s = await startStack({ env: limits(1, 1, 1), shared });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} });
        assert.equal(res.statusCode, 200);
      }
    } finally {
      await s.close();
      await revocations.stop();
      await shared.transport.close();
      await kv.close();
      await memory.close();
    }
  });

  test('isCredentialRequest', () => {
    assert.ok(isCredentialRequest('POST', '/api/v1/auth/login?x=1'));
    assert.ok(isCredentialRequest('POST', '/api/v1/auth/oauth/exchange'));
    assert.ok(isCredentialRequest('POST', '/api/v1/auth/passkeys/login/verify/'));
    assert.ok(!isCredentialRequest('GET', '/api/v1/auth/login'));
    assert.ok(!isCredentialRequest('POST', '/api/v1/auth/me'));
    assert.ok(isCredentialRequest('POST', '/api/v1/auth/%6Cogin'));
    assert.ok(isCredentialRequest('POST', '/api/v1/auth/passkeys/login/%76erify'));
    assert.ok(!isCredentialRequest('POST', '/api/v1/auth/%zzogin'), 'malformed: refused by the path check, not here');
  });
});
