/**
 * Graceful stop, first step (issue 14): a draining app still answers, but readiness says 503
 * `draining` and every answer closes its connection (`Connection: close`), so a client's
 * kept-alive connection is given up after a complete answer, never cut under a request. Then
 * closing refuses new connections. And the in-flight gauge counts the requests being handled.
 * Stopping to accept closes the listener before anything else, so a connection accepted in the
 * last instant still gets its request answered (a proxy cannot resend a POST it has written).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpApp, isDraining, listenOptions, startDraining, stopAccepting } from './http';
import { createLogger } from './logger';
import { createMetricsRegistry, metricValue } from './metrics';
import { eventually } from './testing';

test('a draining app answers with Connection: close and readiness 503, then closing refuses connections', async () => {
  const registry = createMetricsRegistry();
  const app = await createHttpApp({ name: 'drain', logger: createLogger({ level: 'silent', name: 'drain' }), registry });
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  app.get('/work', async () => ({ ok: true }));
  app.get('/held', async () => {
    await held;
    return { ok: true };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const agent = new Agent({ connections: 1 });
  let connects = 0;
  agent.on('connect', () => connects++);
  try {
    const first = await request(`${url}/work`, { dispatcher: agent });
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers.connection, 'keep-alive');
    await first.body.text();
    assert.equal((await (await request(`${url}/readyz`, { dispatcher: agent })).body.json() as { status: string }).status, 'ok');

    // a request in flight when the drain starts, counted by the gauge
    const slow = request(`${url}/held`, { dispatcher: new Agent() });
    await eventually(async () => assert.equal(await metricValue(registry, 'gatehouse_http_requests_in_flight', { service: 'drain' }), 1));

    startDraining(app);
    assert.equal(isDraining(app), true);
    const during = await request(`${url}/work`, { dispatcher: agent });
    assert.equal(during.statusCode, 200, 'a draining app still answers');
    assert.equal(during.headers.connection, 'close');
    await during.body.text();
    const ready = await request(`${url}/readyz`, { dispatcher: agent });
    assert.equal(ready.statusCode, 503);
    assert.equal((await ready.body.json() as { status: string }).status, 'draining');
    assert.equal(ready.headers.connection, 'close');
    // every answer during the drain closed its connection: each request took a new one
    const connectsBefore = connects;
    await (await request(`${url}/work`, { dispatcher: agent })).body.text();
    assert.equal(connects, connectsBefore + 1);

    const closing = app.close();
    release();
    const slowRes = await slow;
    assert.equal(slowRes.statusCode, 200, 'the request in flight is finished');
    await slowRes.body.text();
    await closing;
    assert.equal(await metricValue(registry, 'gatehouse_http_requests_in_flight', { service: 'drain' }), undefined, 'the closed app left the gauge');
    await assert.rejects(request(`${url}/work`, { dispatcher: new Agent() }), (err: { code?: string }) => err.code === 'ECONNREFUSED');
  } finally {
    release();
    await agent.close();
    if (!isClosed(app)) await app.close();
  }
});

function isClosed(app: { server: { listening: boolean } }) {
  return !app.server.listening;
}


/** one raw HTTP/1.1 exchange on a socket: resolves with everything the server sent until it closed */
function rawAnswer(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', (err) => reject(err));
  });
}

test('stopping: a connection accepted just before the listener closed still gets its request served, and a request that begins during close is served, not refused with 503', async () => {
  const app = await createHttpApp({ name: 'stop', logger: createLogger({ level: 'silent', name: 'stop' }), registry: createMetricsRegistry() });
  app.post('/work', async () => ({ ok: true }));
  const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  const port = Number(url.port);
  const accepted = () => new Promise<void>((resolve) => app.server.once('connection', () => resolve()));
  try {
    startDraining(app);
    // a proxy opened this connection and the server accepted it, but its request is not read
    // yet when the replica stops accepting: Node's http close() would see it as idle and reset it
    const seen = accepted();
    const fresh = connect(port, '127.0.0.1');
    await seen;
    // another whose request has begun (its first header line) but not ended
    const seen2 = accepted();
    const begun = connect(port, '127.0.0.1');
    await seen2;
    begun.write('POST /work HTTP/1.1\r\nHost: stop.test\r\n');
    const freshAnswer = rawAnswer(fresh);
    const begunAnswer = rawAnswer(begun);

    const stopping = stopAccepting(app);
    await assert.rejects(request(`${url.origin}/work`, { method: 'POST', dispatcher: new Agent() }), (err: { code?: string }) => err.code === 'ECONNREFUSED', 'no new connection once stopping');
    fresh.write('POST /work HTTP/1.1\r\nHost: stop.test\r\nContent-Length: 0\r\n\r\n');
    await stopping;
    const closing = app.close();
    await sleep(50);
    begun.write('Content-Length: 0\r\n\r\n');
    for (const answer of [await freshAnswer, await begunAnswer]) {
      assert.match(answer, /^HTTP\/1\.1 200 /, answer);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.match(answer, /\{"ok":true\}$/);
    }
    await closing;
  } finally {
    if (app.server.listening) await app.close();
  }
});

test('stopping with no connection open returns at once and the app still closes', async () => {
  const app = await createHttpApp({ name: 'stop2', logger: createLogger({ level: 'silent', name: 'stop2' }), registry: createMetricsRegistry() });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const started = Date.now();
  await stopAccepting(app);
  assert.ok(Date.now() - started < 500);
  await app.close();
  await assert.rejects(request(`${url}/readyz`, { dispatcher: new Agent() }), (err: { code?: string }) => err.code === 'ECONNREFUSED');
});

test('LISTEN_REUSE_PORT: a second app listens on the port of a running one (the new process of a rolling restart beside the old)', async () => {
  const make = () => createHttpApp({ name: 'reuse', logger: createLogger({ level: 'silent', name: 'reuse' }), registry: createMetricsRegistry() });
  const [a, b, c] = [await make(), await make(), await make()];
  try {
    await a.listen(listenOptions('127.0.0.1', 0, true));
    const port = (a.server.address() as { port: number }).port;
    await b.listen(listenOptions('127.0.0.1', port, true));
    assert.equal((b.server.address() as { port: number }).port, port);
    await assert.rejects(c.listen(listenOptions('127.0.0.1', port)), (err: { code?: string }) => err.code === 'EADDRINUSE', 'without it the port is taken');
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});
