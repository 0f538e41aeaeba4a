/**
 * Request bodies at the gateway (issue 9, defect 4): the gateway reads them itself, under its
 * own limit, before it takes an upstream connection; an oversized one is a 413 problem and
 * leaves the client's connection usable (or, far over the limit, cleanly closed), never hanging.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRawProblem, rawConnection, startStack, type Echo, type RawAnswer, type RawConnection, type Stack } from '../../testing/fixtures';

const MB3 = 3 * 1000 * 1000;

/** A chunked body of `total` bytes of JSON-ish text, in 64 KiB chunks. */
function chunked(total: number): Buffer {
  const parts: Buffer[] = [];
  for (let left = total; left > 0; left -= 65_536) {
    const n = Math.min(65_536, left);
    parts.push(Buffer.from(`${n.toString(16)}\r\n${'a'.repeat(n)}\r\n`));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

describe('proxy: body limits are enforced at the gateway', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ listen: true });
  });
  after(async () => {
    await s.close();
  });

  /** After an oversized request, a normal one on the same connection is answered: the 413 left it usable. */
  async function followUp(c: RawConnection, first: RawAnswer) {
    assert.notEqual(first.headers.connection, 'close');
    await c.write('GET /api/v1/users/me HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const next = await c.next();
    assert.notEqual(next, 'timeout', 'the connection hangs after the 413');
    assert.notEqual(next, 'closed', 'the connection was closed after the 413');
    assert.equal((next as RawAnswer).status, 200);
  }

  for (const [method, url] of [
    ['POST', '/api/v1/auth/login'],
    ['POST', '/api/v1/auth/register'],
    ['POST', '/api/v1/auth/password/forgot'],
    ['PATCH', '/api/v1/users/me'],
    ['POST', '/api/v1/social-logs'],
    ['POST', '/api/v1/events'],
  ] as const) {
    test(`${method} ${url} with 3 MB, plain and chunked: 413 payload_too_large, and the connection stays usable`, async () => {
      for (const mode of ['plain', 'chunked'] as const) {
        const c = await rawConnection(s.url!);
        try {
          const head = `${method} ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
          // not awaited: the gateway may answer (and close) before all of it is sent
          void (mode === 'plain' ? c.write(Buffer.concat([Buffer.from(`${head}Content-Length: ${MB3}\r\n\r\n`), Buffer.alloc(MB3, 'a')])) : c.write(Buffer.concat([Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`), chunked(MB3)])));
          const first = await c.next();
          assertRawProblem(first, 413, 'payload_too_large', `${mode}: `);
          await followUp(c, first);
        } finally {
          c.close();
        }
      }
      const fresh = await fetch(`${s.url}/api/v1/users/me`);
      assert.equal(fresh.status, 200);
    });
  }

  test('a body declared far over the limit: 413 at once, before it is sent, and the connection is closed cleanly', async () => {
    const c = await rawConnection(s.url!);
    try {
      await c.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"a":');
      const first = await c.next();
      assertRawProblem(first, 413, 'payload_too_large');
      assert.equal(first.headers.connection, 'close');
      assert.equal(await c.next(), 'closed');
      assert.equal(c.reset, false);
    } finally {
      c.close();
    }
  });

  test('a JSON body at the limit is forwarded whole, byte for byte; a chunked one with its length', async () => {
    const text = JSON.stringify({ email: 'a@b.test', pad: 'é'.repeat(1000) });
    const whole = Buffer.alloc(s.config.bodyLimitBytes, ' ');
    whole.write(text);
    const res = await fetch(`${s.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: whole });
    assert.equal(res.status, 200);
    const echo = (await res.json()) as Echo;
    assert.equal(echo.body, whole.toString('utf8'));
    assert.equal(echo.headers['content-length'], String(whole.length));
    assert.equal(echo.headers['content-type'], 'application/json');

    const c = await rawConnection(s.url!);
    try {
      const body = Buffer.from(text);
      await c.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`);
      await c.write(Buffer.concat([body, Buffer.from('\r\n0\r\n\r\n')]));
      const answer = await c.next();
      assert.ok(typeof answer === 'object', String(answer));
      assert.equal(answer.status, 200);
      const chunkedEcho = JSON.parse(answer.body) as Echo;
      assert.equal(chunkedEcho.body, text);
      assert.equal(chunkedEcho.headers['content-length'], String(body.length));
      assert.equal(chunkedEcho.headers['transfer-encoding'], undefined);
    } finally {
      c.close();
    }
  });

  test('the avatar upload (multipart, up to 2 MiB) passes; a bigger one is 413 at the gateway', async () => {
    const upload = (bytes: number) => {
      const form = new FormData();
      form.append('file', new Blob([Buffer.alloc(bytes, 7)], { type: 'image/png' }), 'a.png');
      return fetch(`${s.url}/api/v1/users/me/avatar`, { method: 'PUT', body: form });
    };
    const ok = await upload(2 * 1024 * 1024);
    assert.equal(ok.status, 200);
    const echo = (await ok.json()) as Echo;
    assert.match(String(echo.headers['content-type']), /^multipart\/form-data; boundary=/);
    assert.ok(Buffer.byteLength(echo.body, 'latin1') > 2 * 1024 * 1024);
    const big = await upload(3 * 1024 * 1024);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { code: string }).code, 'payload_too_large');
  });
});
