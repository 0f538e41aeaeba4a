/**
 * Kept-alive upstream connections closed under a request (issue 14, rolling restart): an
 * upstream that resets every connection when a second request arrives on it, as a server
 * closing its idle connections (or nginx reloading) does to a client that reuses one at that
 * moment, or a replica killed with `kill -9`. The gateway sends an idempotent request again on
 * a new connection, so the client is answered. Writes (POST, PATCH) never meet the race: each
 * goes on a new connection (proxy.dispatcher.ts), and one reset anyway is never sent twice
 * (it may have been read): 502. A refused connection (a replica that stopped listening) is
 * retried for every method.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startStack, type Stack } from '../../testing/fixtures';
import { retryOnFreshConnection } from './proxy.service';

/**
 * An upstream that answers the first request of each connection and resets the connection
 * when `resetOn(method)` holds for a later one (default: every method); a request with
 * `reset=1` in its query is reset even as the first.
 */
async function startResettingUpstream(resetOn: (method: string) => boolean = () => true) {
  const seen = new WeakMap<Socket, number>();
  const received: string[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    received.push(`${req.method} ${req.url}`);
    if ((n > 1 && resetOn(req.method ?? '')) || req.url?.includes('reset=1')) {
      req.socket.resetAndDestroy(); // RST, no byte of an answer
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=60' });
      res.end(JSON.stringify({ ok: true, n: received.length }));
    });
  });
  server.on('connection', () => connections++);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined),
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('proxy: kept-alive upstream connections reset under a request', () => {
  let s: Stack;
  let upstream: Awaited<ReturnType<typeof startResettingUpstream>>;
  before(async () => {
    upstream = await startResettingUpstream();
    // one connection in the pool: every second request reuses a kept-alive connection
    s = await startStack({ env: { AUDIT_URL: upstream.url }, options: { upstreamConnections: 1 }, listen: true });
  });
  after(async () => {
    await s.close();
    await upstream.stop();
  });

  test('GETs are answered: each reset connection is replaced and the request sent again', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${s.url}/api/v1/audit/me?i=${i}`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { ok: boolean }).ok, true);
    }
    // 6 answered, 5 of them after a reset: the upstream saw 11 requests on 6 connections
    assert.equal(upstream.received.filter((r) => r.startsWith('GET /api/v1/audit/me')).length, 11);
    assert.equal(upstream.connections(), 6);
  });

  test('a POST goes on a new connection of its own: answered, sent once', async () => {
    // the pool's connection has answered one request (the last GET's); the POST does not reuse it
    const before = upstream.received.length;
    const connections = upstream.connections();
    const res = await fetch(`${s.url}/api/v1/social-logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"x.y"}' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(upstream.received.slice(before), ['POST /api/v1/social-logs']);
    assert.equal(upstream.connections(), connections + 1);
  });

  test('a POST reset anyway is not sent twice: 502 upstream_unavailable', async () => {
    const before = upstream.received.length;
    const res = await fetch(`${s.url}/api/v1/social-logs?reset=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"x.y"}' });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { code: string }).code, 'upstream_unavailable');
    assert.deepEqual(upstream.received.slice(before), ['POST /api/v1/social-logs?reset=1']);
  });
});

describe('proxy: writes on a new connection each, reads on the kept-alive pool', () => {
  // resets a POST or PATCH written on a reused connection, as a replica killed an instant
  // before does (the write has left the gateway, so it cannot be sent again)
  let s: Stack;
  let upstream: Awaited<ReturnType<typeof startResettingUpstream>>;
  before(async () => {
    upstream = await startResettingUpstream((m) => m === 'POST' || m === 'PATCH');
    s = await startStack({ env: { AUDIT_URL: upstream.url, USERS_URL: upstream.url }, options: { upstreamConnections: 1 }, listen: true });
  });
  after(async () => {
    await s.close();
    await upstream.stop();
  });

  test('every POST and PATCH is answered and sent once; the GETs between them share one connection', async () => {
    const json = { 'content-type': 'application/json' };
    const sent: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const [method, path, body] of [
        ['GET', `/api/v1/audit/me?i=${i}`, undefined],
        ['POST', `/api/v1/social-logs?i=${i}`, '{"type":"x.y"}'],
        ['GET', `/api/v1/users/me?i=${i}`, undefined],
        ['PATCH', `/api/v1/users/me?i=${i}`, '{"displayName":"x"}'],
      ] as const) {
        const res = await fetch(`${s.url}${path}`, { method, headers: body ? json : {}, body });
        assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
        sent.push(`${method} ${path}`);
      }
    }
    assert.deepEqual(upstream.received, sent);
    // 8 GETs on the pool's one kept-alive connection, 8 writes on 8 connections of their own
    assert.equal(upstream.connections(), 1 + 8);
  });
});

describe('proxy: writesOnNewConnection false (the all-in-one process) keeps writes on the pool', () => {
  let s: Stack;
  let upstream: Awaited<ReturnType<typeof startResettingUpstream>>;
  before(async () => {
    upstream = await startResettingUpstream((m) => m === 'POST');
    s = await startStack({ env: { AUDIT_URL: upstream.url }, options: { upstreamConnections: 1, writesOnNewConnection: false }, listen: true });
  });
  after(async () => {
    await s.close();
    await upstream.stop();
  });

  test('a POST after a GET reuses its connection: reset there, it is not sent again (502)', async () => {
    assert.equal((await fetch(`${s.url}/api/v1/audit/me`)).status, 200);
    const res = await fetch(`${s.url}/api/v1/social-logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"x.y"}' });
    assert.equal(res.status, 502);
    assert.deepEqual(upstream.received, ['GET /api/v1/audit/me', 'POST /api/v1/social-logs']);
    assert.equal(upstream.connections(), 1);
  });
});

describe('proxy: which failures are sent again', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
  const timeout = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
  test('a refused connection: every method (nothing was sent)', () => {
    for (const m of ['GET', 'POST', 'PATCH', 'DELETE']) assert.equal(retryOnFreshConnection(m, refused), true, m);
  });
  test('a reset socket: idempotent methods only', () => {
    for (const m of ['GET', 'HEAD', 'PUT', 'DELETE']) assert.equal(retryOnFreshConnection(m, reset), true, m);
    for (const m of ['POST', 'PATCH']) assert.equal(retryOnFreshConnection(m, reset), false, m);
  });
  test('a timeout: never (the request may still be running upstream)', () => {
    assert.equal(retryOnFreshConnection('GET', timeout), false);
  });
});
