/**
 * Graceful stop, first step (issue 14): a draining app still answers, but readiness says 503
 * `draining` and every answer closes its connection (`Connection: close`), so a client's
 * kept-alive connection is given up after a complete answer, never cut under a request. Then
 * closing refuses new connections. And the in-flight gauge counts the requests being handled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { createHttpApp, isDraining, startDraining } from './http';
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

