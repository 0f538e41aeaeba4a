/**
 * Request loggers: each line a request logs carries its request id and the service, while a
 * request that logs nothing at the enabled levels never makes its pino child (LazyChildLogger).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { createHttpApp } from './http';
import { LazyChildLogger } from './logger';
import { createMetricsRegistry } from './metrics';

/** A pino logger writing JSON lines into `lines`, with its `child` calls counted. */
function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level }, stream);
  let children = 0;
  const counted: Logger = Object.assign(Object.create(logger) as Logger, {
    child: (...args: Parameters<Logger['child']>) => {
      children++;
      return logger.child(...args);
    },
  });
  return { logger: counted, lines, children: () => children };
}

test('a request logger makes its child only for a line at an enabled level, and the line carries its bindings', () => {
  const c = capture('info');
  const log = new LazyChildLogger(c.logger, { reqId: 'r-1' });
  log.debug({ a: 1 }, 'not written');
  log.trace('not written');
  assert.equal(c.children(), 0, 'no child for lines below the level');
  assert.equal(log.level, 'info');
  assert.equal(log.isLevelEnabled('debug'), false);
  assert.equal(log.isLevelEnabled('warn'), true);
  log.warn({ b: 2 }, 'written');
  log.error('also written');
  assert.equal(c.children(), 1, 'one child, made once');
  assert.deepEqual(
    c.lines.map((l) => [l.level, l.msg, l.reqId, l.b]),
    [
      [40, 'written', 'r-1', 2],
      [50, 'also written', 'r-1', undefined],
    ],
  );
});

test("a request logger with a level of its own (a route's logLevel) answers by that level", () => {
  const c = capture('info');
  const log = new LazyChildLogger(c.logger, { reqId: 'r-2' }, { level: 'debug' });
  assert.equal(log.level, 'debug');
  log.trace('below debug');
  assert.equal(c.children(), 0);
  log.debug('written at debug');
  assert.equal(c.lines.length, 1);
  assert.equal(c.lines[0]!.reqId, 'r-2');
  log.level = 'error';
  log.warn('now below the level');
  assert.equal(c.lines.length, 1);
  assert.equal(log.child({ k: 'v' }).level, 'error', 'a grandchild inherits the child');
});

test("an app's request loggers are lazy, and a failed request's line carries its request id and service", async () => {
  const c = capture('info');
  const app = await createHttpApp({ name: 'logtest', logger: c.logger, registry: createMetricsRegistry(), operations: false });
  app.get('/ok', async (req) => ({ lazy: req.log instanceof LazyChildLogger }));
  app.get('/boom', async () => {
    throw new Error('kaput');
  });
  app.get('/note', async (req) => {
    req.log.info({ seen: true }, 'a note');
    return {};
  });
  try {
    const ok = await app.inject({ method: 'GET', url: '/ok' });
    assert.deepEqual(ok.json(), { lazy: true });

    const boom = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'req-boom-1' } });
    assert.equal(boom.statusCode, 500);
    const failed = c.lines.find((l) => l.msg === 'unhandled error');
    assert.ok(failed, JSON.stringify(c.lines));
    assert.equal(failed.reqId, 'req-boom-1');
    assert.equal(failed.service, 'logtest');

    const note = await app.inject({ method: 'GET', url: '/note' });
    const line = c.lines.find((l) => l.msg === 'a note');
    assert.equal(line?.reqId, note.headers['x-request-id']);
    assert.equal(line?.seen, true);
  } finally {
    await app.close();
  }
});
