/**
 * Slow clients (issue 9, defects 1 and 2): bodies sent a byte at a time hold no upstream
 * connection, are cut after REQUEST_TIMEOUT_SEC with a 408 problem, and other clients are
 * served meanwhile; readiness reports a saturated upstream pool. Timeouts are set to 2–5 s
 * here (the defaults are 30 s and 15 s); every loop is bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '@gatehouse/platform/testing';
import { assertRawProblem, rawConnection, startStack, type RawConnection, type Stack } from '../../testing/fixtures';

/** Reads the next answer while trickling one byte every `everyMs` (at most `maxBytes`), so the loop is bounded. */
async function trickleUntilAnswered(c: RawConnection, everyMs: number, maxBytes: number, byte = 'a') {
  for (let i = 0; i < maxBytes; i++) {
    const answer = await c.next(everyMs);
    if (answer !== 'timeout') return answer;
    if (!(await c.write(byte))) return c.next(1000);
  }
  return 'timeout' as const;
}

describe('proxy: slow clients', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      env: { REQUEST_TIMEOUT_SEC: '5', HEADERS_TIMEOUT_SEC: '2', MAX_IN_FLIGHT_PER_IP: '0' },
      // A pool of 4 upstream connections: 12 slow clients would hold all of it if bodies
      // streamed through; long upstream timeouts, so that nothing but the gateway's own
      // request timeout would free them.
      options: { upstreamConnections: 4, upstreamTimeouts: { connectMs: 1000, headersMs: 30_000, bodyMs: 30_000 } },
      listen: true,
    });
  });
  after(async () => {
    await s.close();
  });

  test('slow uploads hold no upstream connection: login, JWKS and providers are served meanwhile; the slow ones get 408', async () => {
    const slow = await Promise.all(Array.from({ length: 12 }, () => rawConnection(s.url!)));
    try {
      for (const c of slow) await c.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
      // Others, while every slow client is still sending: each answered (the signal only bounds the wait).
      for (let round = 0; round < 3; round++) {
        for (const [method, url] of [
          ['POST', '/api/v1/auth/login'],
          ['GET', '/.well-known/jwks.json'],
          ['GET', '/api/v1/auth/oauth/providers'],
        ] as const) {
          const res = await fetch(`${s.url}${url}`, {
            method,
            headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
            body: method === 'POST' ? '{"email":"a@b.test","password":"x"}' : undefined,
            signal: AbortSignal.timeout(10_000),
          });
          assert.equal(res.status, 200, url);
          await res.body?.cancel();
        }
        for (const c of slow) await c.write('a');
        await sleep(200);
      }
      // All of that while every slow client was still sending (none answered yet), and none of
      // them holds an upstream connection: readiness sees no saturated pool.
      for (const c of slow) assert.equal(await c.next(0), 'timeout', 'a slow client was answered before the others were served');
      const ready = await fetch(`${s.url}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      for (const c of slow) {
        const answer = await trickleUntilAnswered(c, 250, 40);
        assertRawProblem(answer, 408, 'request_timeout', 'a slow client was never cut: ');
      }
    } finally {
      for (const c of slow) c.close();
    }
  });

  test('a trickled body is cut with 408 request_timeout, and the connection closes', async () => {
    const c = await rawConnection(s.url!);
    try {
      await c.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
      const other = await fetch(`${s.url}/api/v1/users/me`, { signal: AbortSignal.timeout(5000) });
      assert.equal(other.status, 200, 'another client is served meanwhile');
      const answer = await trickleUntilAnswered(c, 300, 40);
      assertRawProblem(answer, 408, 'request_timeout', 'never cut: ');
      assert.equal(answer.headers.connection, 'close');
      assert.equal(await c.next(5000), 'closed');
    } finally {
      c.close();
    }
  });

  test('trickled headers are cut with 408 request_timeout too', async () => {
    const c = await rawConnection(s.url!);
    try {
      await c.write('GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\n');
      let answer: Awaited<ReturnType<RawConnection['next']>> = 'timeout';
      for (let i = 0; i < 40 && answer === 'timeout'; i++) {
        answer = await c.next(250);
        if (answer === 'timeout' && !(await c.write(`X-${i}: 1\r\n`))) answer = await c.next(1000);
      }
      assertRawProblem(answer, 408, 'request_timeout', 'never cut: ');
    } finally {
      c.close();
    }
  });
});

describe('proxy: readiness reflects upstream saturation', () => {
  test('/readyz is 503 while every upstream connection of a service is busy, 200 again after', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const s = await startStack({
      env: { USERS_URL: `http://127.0.0.1:${port}` },
      options: { upstreamConnections: 2, upstreamTimeouts: { connectMs: 1000, headersMs: 1500, bodyMs: 1500 } },
    });
    try {
      // The users upstream never answers, so the gateway's readiness of users fails from the
      // start (it asks users' own /readyz); what this test watches is the capacity check alone.
      const capacity = async () => (await s.app.inject({ method: 'GET', url: '/readyz' })).json<{ checks: Record<string, string> }>().checks.upstream_capacity;
      assert.equal(await capacity(), 'ok');
      const stuck = [0, 1, 2].map(() => s.app.inject({ method: 'GET', url: '/api/v1/users/me' }));
      await eventually(async () => {
        const res = await s.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(res.statusCode, 503);
        assert.match(res.json<{ checks: Record<string, string> }>().checks.upstream_capacity ?? '', /users/);
      }, 5000);
      for (const res of await Promise.all(stuck)) assert.equal(res.statusCode, 504);
      await eventually(async () => assert.equal(await capacity(), 'ok'), 5000);
    } finally {
      await s.close();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
