/**
 * The shipped nginx site (deploy/nginx/gatehouse.conf) with the real nginx: TLS with HTTP/2
 * and HSTS, 80 -> 443, the client's real address for the gateway's TRUST_PROXY, operations
 * endpoints closed to the outside, and passive health over several replicas: idempotent
 * requests go to the next replica, POSTs are never sent twice. The replicas here are small
 * recording HTTP servers (what is tested is nginx's behaviour with this site); the fault suite
 * (test/src/faults) runs the same site in front of the real services.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request } from 'undici';
import { readFile } from 'node:fs/promises';
import { nginxMissing, parseAccessLog, startNginx, type RunningNginx } from './nginx-site';

interface Replica {
  port: number;
  hits: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  /** what it answers: a status, or 'hang-up' to drop the connection */
  mode: number | 'hang-up';
  close(): Promise<void>;
}

async function replica(name: string): Promise<Replica> {
  const r: Replica = { port: 0, hits: [], mode: 200, close: async () => {} };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      r.hits.push({ method: req.method!, url: req.url!, headers: req.headers });
      if (r.mode === 'hang-up') return req.socket.destroy();
      res.writeHead(r.mode, { 'content-type': 'application/json' }).end(JSON.stringify({ replica: name, headers: req.headers }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.port = (server.address() as AddressInfo).port;
  r.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return r;
}

describe('the shipped nginx site', { skip: nginxMissing }, () => {
  let a: Replica;
  let b: Replica;
  let auth: Replica;
  let nginx: RunningNginx;
  let client: Agent;

  before(async () => {
    [a, b, auth] = await Promise.all([replica('a'), replica('b'), replica('auth')]);
    nginx = await startNginx({ upstreams: { gateway: [a.port, b.port], auth: [auth.port] } });
    client = new Agent({ connect: { ca: nginx.ca, servername: 'acme.gatehouse.test' } });
  });
  after(async () => {
    await nginx?.stop();
    await Promise.all([a, b, auth].map((r) => r?.close()));
    await client?.close();
  });

  const send = (method: string, p: string, headers: Record<string, string> = {}) =>
    request(`${nginx.siteUrl}${p}`, { method: method as 'GET', headers: { host: 'acme.gatehouse.test', ...headers }, dispatcher: client, body: method === 'POST' ? '{}' : undefined });

  test('port 80 answers only with a permanent redirect to https, same host and path', async () => {
    const res = await request(`${nginx.httpUrl}/api/v1/auth/me?x=1`, { headers: { host: 'acme.gatehouse.test' } });
    await res.body.dump();
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, 'https://acme.gatehouse.test/api/v1/auth/me?x=1');
    assert.equal(a.hits.length + b.hits.length, 0);
  });

  test('HTTPS speaks HTTP/2 (ALPN h2) with the configured certificate and sends HSTS', async () => {
    const session = http2.connect(nginx.siteUrl, { ca: nginx.ca, servername: 'acme.gatehouse.test' });
    try {
      const { status, hsts } = await new Promise<{ status: number; hsts: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/api/v1/auth/me', ':authority': 'acme.gatehouse.test' });
        req.on('response', (h) => resolve({ status: Number(h[':status']), hsts: String(h['strict-transport-security']) }));
        req.on('error', reject);
        req.end();
      });
      assert.equal(session.alpnProtocol, 'h2');
      assert.equal(status, 200);
      assert.match(hsts, /max-age=\d{8,}; includeSubDomains/);
    } finally {
      session.close();
    }
  });

  test('the gateway gets the real client address (a forged X-Forwarded-For is replaced), the Host and https', async () => {
    const res = await send('GET', '/api/v1/auth/me', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'evil.example' });
    const body = (await res.body.json()) as { headers: http.IncomingHttpHeaders };
    assert.equal(res.statusCode, 200);
    assert.equal(body.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(body.headers['x-real-ip'], '127.0.0.1');
    assert.equal(body.headers['x-forwarded-proto'], 'https');
    assert.equal(body.headers['x-forwarded-host'], 'acme.gatehouse.test');
    assert.equal(body.headers.host, 'acme.gatehouse.test');
    assert.match(String(body.headers['x-request-id']), /^[0-9a-f]{32}$/);
  });

  test('/metrics, /readyz and /healthz are not reachable from outside', async () => {
    const before = a.hits.length + b.hits.length;
    for (const p of ['/metrics', '/readyz', '/healthz', '/metrics/', '/readyz?full=1']) {
      const res = await send('GET', p);
      await res.body.dump();
      assert.equal(res.statusCode, 404, p);
    }
    assert.equal(a.hits.length + b.hits.length, before, 'no replica saw an operations request');
  });

  test('requests are spread over the replicas', async () => {
    a.hits.length = 0;
    b.hits.length = 0;
    for (let i = 0; i < 10; i++) await (await send('GET', `/spread/${i}`)).body.dump();
    assert.ok(a.hits.length >= 3 && b.hits.length >= 3, `a ${a.hits.length}, b ${b.hits.length}`);
  });

  test('a failing replica: GETs are retried on the other one and it is left out after max_fails', async () => {
    a.mode = 502;
    a.hits.length = 0;
    b.hits.length = 0;
    for (let i = 0; i < 20; i++) {
      const res = await send('GET', `/idempotent/${i}`);
      await res.body.dump();
      assert.equal(res.statusCode, 200, `GET ${i} was retried on the healthy replica`);
    }
    // max_fails=2 within fail_timeout: after two failures the broken replica gets no more traffic
    assert.ok(a.hits.length >= 1 && a.hits.length <= 2, `the failing replica was tried ${a.hits.length} times`);
    a.mode = 200;
    await new Promise((r) => setTimeout(r, 5500)); // fail_timeout: the replica is back in
  });

  test('a replica that drops a POST: it is answered 502, never sent to a second replica', async () => {
    a.mode = 'hang-up';
    a.hits.length = 0;
    b.hits.length = 0;
    let postFailures = 0;
    // until the broken replica has had one (it was left out a while after the last test)
    for (let i = 0; i < 60 && a.hits.length === 0; i++) {
      const res = await send('POST', `/once/${i}`);
      await res.body.dump();
      if (res.statusCode !== 200) postFailures++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seen = [...a.hits, ...b.hits].map((h) => h.url);
    assert.equal(new Set(seen).size, seen.length, `no POST reached two replicas: ${seen.join(' ')}`);
    assert.ok(a.hits.length >= 1 && postFailures >= 1, `the POST the broken replica dropped is answered 502, not resent (a saw ${a.hits.length}, ${postFailures} failed)`);
    a.mode = 200;
  });

  test('the internal listener balances the gateway’s calls to a service and keeps X-Forwarded-For', async () => {
    const res = await request(`${nginx.internal.auth}/.well-known/jwks.json`, { headers: { 'x-forwarded-for': '198.51.100.7' } });
    const body = (await res.body.json()) as { replica: string; headers: http.IncomingHttpHeaders };
    assert.equal(body.replica, 'auth');
    assert.equal(body.headers['x-forwarded-for'], '198.51.100.7, 127.0.0.1');
  });
});

describe('the access log the fault suite reads', { skip: nginxMissing }, () => {
  test('each request: when it began and ended, every upstream tried and what each answered', async () => {
    const [down, up] = await Promise.all([replica('down'), replica('up')]);
    down.mode = 'hang-up';
    const nginx = await startNginx({ upstreams: { gateway: [down.port, up.port] }, accessLog: true, tls: false });
    try {
      const before = Date.now();
      // round robin: within two GETs one goes to the hanging replica first and is retried on the other
      for (let i = 0; i < 2; i++) {
        const r = await request(`${nginx.siteUrl}/logged/${i}`, { headers: { host: 'acme.gatehouse.test' } });
        assert.equal(r.statusCode, 200);
        await r.body.dump();
      }
      const after = Date.now();
      const entries = parseAccessLog(await readFile(nginx.accessLogPath!, 'utf8')).filter((e) => e.uri.startsWith('/logged/'));
      assert.equal(entries.length, 2);
      for (const e of entries) {
        assert.ok(e.startMs >= before - 1000 && e.startMs <= e.endMs && e.endMs <= after + 1000, JSON.stringify(e));
        assert.equal(e.status, 200);
        assert.equal(e.method, 'GET');
        assert.equal(e.upstreams.length, e.upstreamStatuses.length);
        assert.equal(e.upstreams.length, e.upstreamConnected.length);
      }
      const retried = entries.find((e) => e.upstreams.length === 2);
      assert.ok(retried, `one GET tried both replicas: ${JSON.stringify(entries)}`);
      assert.deepEqual(retried.upstreams, [`127.0.0.1:${down.port}`, `127.0.0.1:${up.port}`]);
      assert.deepEqual(retried.upstreamStatuses, ['502', '200']);
      assert.deepEqual(retried.upstreamConnected, [true, true], 'the hanging replica had taken the request');
      // a replica that is gone: the connect is refused, nothing was sent to it
      await down.close();
      for (let i = 0; i < 2; i++) {
        const r = await request(`${nginx.siteUrl}/refused/${i}`, { headers: { host: 'acme.gatehouse.test' } });
        assert.equal(r.statusCode, 200);
        await r.body.dump();
      }
      const refused = parseAccessLog(await readFile(nginx.accessLogPath!, 'utf8')).find((e) => e.uri.startsWith('/refused/') && e.upstreams.length === 2);
      assert.ok(refused, 'one GET tried the closed replica first');
      assert.deepEqual(refused.upstreamConnected, [false, true]);
    } finally {
      await nginx.stop();
      await Promise.all([down.close(), up.close()]);
    }
  });
});

/**
 * The kill race (issue 14): after a `kill -9`, nginx can write a request on a pooled upstream
 * connection before it has handled that connection's close, and it never resends a POST or
 * PATCH once written. The site sends those methods on a new connection each (the `_fresh`
 * pools, `Connection: close`), where a dead replica refuses the connect and nginx tries the
 * next one; other methods keep the kept-alive pools (nginx resends them).
 */
describe('the shipped nginx site: writes never ride a kept-alive upstream connection', { skip: nginxMissing }, () => {
  /**
   * A replica that answers GETs on kept-alive connections but resets a connection when a POST
   * or PATCH arrives on it after an earlier request: what nginx meets when it writes on a
   * pooled connection to a replica that has just died.
   */
  async function deadPooledConnections() {
    const requestsOn = new WeakMap<Socket, number>();
    const sockets = new Map<Socket, number>();
    const seen: Array<{ method: string; url: string; connection?: string; socket: number }> = [];
    const server = http.createServer((req, res) => {
      const n = (requestsOn.get(req.socket) ?? 0) + 1;
      requestsOn.set(req.socket, n);
      if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size);
      seen.push({ method: req.method!, url: req.url!, connection: req.headers.connection, socket: sockets.get(req.socket)! });
      if (n > 1 && (req.method === 'POST' || req.method === 'PATCH')) return req.socket.resetAndDestroy();
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      seen,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  }

  test('GETs reuse a pooled connection; each POST and PATCH goes on a new one with Connection: close and is answered', async () => {
    const r = await deadPooledConnections();
    const nginx = await startNginx({ upstreams: { gateway: [r.port], auth: [r.port] }, tls: false });
    try {
      const sites = [nginx.siteUrl, nginx.internal.auth]; // the public site and an internal listener
      for (const base of sites) {
        for (const method of ['GET', 'GET', 'POST', 'GET', 'PATCH', 'POST', 'GET']) {
          const res = await request(`${base}/w/${method}`, { method: method as 'GET', headers: { host: 'acme.gatehouse.test' }, body: method === 'GET' ? undefined : '{}' });
          await res.body.dump();
          assert.equal(res.statusCode, 200, `${method} through ${base}`);
        }
      }
      const gets = r.seen.filter((h) => h.method === 'GET');
      const writes = r.seen.filter((h) => h.method !== 'GET');
      assert.equal(writes.length, 6, 'each write reached the replica once');
      for (const w of writes) {
        assert.equal(w.connection, 'close', `${w.method} asks for the connection to be closed`);
        assert.equal(r.seen.filter((h) => h.socket === w.socket).length, 1, `${w.method} had a connection of its own`);
      }
      assert.ok(gets.every((g) => g.connection === undefined), 'GETs keep their connection');
      assert.ok(new Set(gets.map((g) => g.socket)).size < gets.length, `GETs reused pooled connections: ${JSON.stringify(gets)}`);
    } finally {
      await nginx.stop();
      await r.close();
    }
  });

  test('a replica that is down: POSTs and PATCHes go to the other one (the connect was refused, nothing was sent)', async () => {
    const [dead, alive] = await Promise.all([replica('dead'), replica('alive')]);
    const nginx = await startNginx({ upstreams: { gateway: [dead.port, alive.port] }, tls: false });
    try {
      // both replicas have answered (nginx holds pooled connections to each), then one dies
      for (let i = 0; i < 4; i++) await (await request(`${nginx.siteUrl}/warm/${i}`, { headers: { host: 'acme.gatehouse.test' } })).body.dump();
      assert.ok(dead.hits.length > 0 && alive.hits.length > 0);
      await dead.close();
      alive.hits.length = 0;
      for (let i = 0; i < 6; i++) {
        const method = i % 2 ? 'PATCH' : 'POST';
        const res = await request(`${nginx.siteUrl}/write/${i}`, { method, headers: { host: 'acme.gatehouse.test' }, body: '{}' });
        await res.body.dump();
        assert.equal(res.statusCode, 200, `${method} ${i}`);
      }
      assert.deepEqual(alive.hits.map((h) => h.url), [0, 1, 2, 3, 4, 5].map((i) => `/write/${i}`));
    } finally {
      await nginx.stop();
      await alive.close();
    }
  });
});
