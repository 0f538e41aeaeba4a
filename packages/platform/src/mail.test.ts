import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { createMailer } from './mail';

/** A pino logger whose lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('dev mailbox', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-mail-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('keeps messages newest last and logs recipient and subject, never the body', async () => {
    const { logger, lines } = capturingLogger();
    const mailer = createMailer({ from: 'Gatehouse <no-reply@example.test>', logger });
    assert.equal(mailer.kind, 'devbox');
    await mailer.ping();
    await mailer.send({ to: 'ann@example.test', subject: 'Verify your email', text: 'token=SECRET-1' });
    await mailer.send({ to: 'bob@example.test', subject: 'Reset your password', text: 'token=SECRET-2', html: '<b>SECRET-2</b>' });
    const got = mailer.messages();
    assert.deepEqual(
      got.map((m) => [m.to, m.subject, m.text, m.html]),
      [
        ['ann@example.test', 'Verify your email', 'token=SECRET-1', undefined],
        ['bob@example.test', 'Reset your password', 'token=SECRET-2', '<b>SECRET-2</b>'],
      ],
    );
    for (const m of got) {
      assert.match(m.id, /^[0-9a-f-]{36}$/);
      assert.ok(!Number.isNaN(Date.parse(m.at)));
    }
    // messages() hands out a copy.
    got.pop();
    assert.equal(mailer.messages().length, 2);
    const msgs = lines.map((l) => l.msg);
    assert.ok(msgs.includes('mail to ann@example.test: Verify your email'));
    assert.ok(msgs.includes('mail to bob@example.test: Reset your password'));
    assert.ok(!JSON.stringify(lines).includes('SECRET'), 'a body reached the log');
    await mailer.close();
  });

  test('keeps the last 200, appends JSON lines to the data dir and reloads them', async () => {
    const { logger } = capturingLogger();
    const mailer = createMailer({ from: 'no-reply@example.test', logger, dataDir: dir });
    await Promise.all(
      Array.from({ length: 205 }, (_, i) => mailer.send({ to: `u${i}@example.test`, subject: `s${i}`, text: `t${i}` })),
    );
    const kept = mailer.messages();
    assert.equal(kept.length, 200);
    assert.equal(kept[0]!.subject, 's5');
    assert.equal(kept[199]!.subject, 's204');
    await mailer.close();

    const file = join(dir, 'mailbox.jsonl');
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 205);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { subject: string }).subject),
      Array.from({ length: 205 }, (_, i) => `s${i}`),
    );
    assert.equal((await stat(file)).mode & 0o077, 0, 'mailbox file readable by others');

    const reopened = createMailer({ from: 'no-reply@example.test', logger, dataDir: dir });
    const again = reopened.messages();
    assert.equal(again.length, 200);
    assert.equal(again[0]!.subject, 's5');
    assert.deepEqual(again[199], kept[199]);
    await reopened.close();
  });

  test('refuses several recipients and line breaks in headers', async () => {
    const mailer = createMailer({ from: 'no-reply@example.test', logger: pino({ level: 'silent' }) });
    for (const to of ['a@example.test, b@example.test', 'a@example.test;b@example.test', 'nobody', '', 'a@example.test\r\nBcc: b@example.test', 'group: a@x.test, b@y.test;']) {
      await assert.rejects(mailer.send({ to, subject: 's', text: 't' }), /recipient|line breaks/, JSON.stringify(to));
    }
    await assert.rejects(mailer.send({ to: 'a@example.test', subject: 'hi\r\nBcc: b@example.test', text: 't' }));
    assert.equal(mailer.messages().length, 0);
    await mailer.close();
  });
});

interface Received {
  from: string | undefined;
  to: string[];
  user: string | undefined;
  raw: string;
}

describe('SMTP mailer', () => {
  const received: Received[] = [];
  let server: SMTPServer;
  let port: number;

  before(async () => {
    server = new SMTPServer({
      // The test server speaks plain SMTP on loopback; production uses STARTTLS or smtps.
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === 'mailer' && auth.password === 'p@ss w0rd') cb(null, { user: auth.username });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
            raw: Buffer.concat(chunks).toString(),
          });
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const url = () => `smtp://mailer:${encodeURIComponent('p@ss w0rd')}@127.0.0.1:${port}`;

  test('sends through the pool with authentication', async () => {
    const mailer = createMailer({ smtpUrl: url(), from: 'Gatehouse <no-reply@example.test>', logger: pino({ level: 'silent' }) });
    assert.equal(mailer.kind, 'smtp');
    await mailer.ping();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        mailer.send({ to: `user${i}@example.test`, subject: `Hello ${i}`, text: `plain ${i}`, html: `<p>html ${i}</p>` }),
      ),
    );
    assert.equal(received.length, 8);
    const first = received.find((r) => r.to[0] === 'user0@example.test')!;
    assert.equal(first.from, 'no-reply@example.test');
    assert.equal(first.user, 'mailer');
    assert.match(first.raw, /^Subject: Hello 0$/m);
    assert.match(first.raw, /^From: Gatehouse <no-reply@example\.test>$/m);
    assert.match(first.raw, /plain 0/);
    assert.match(first.raw, /<p>html 0<\/p>/);
    assert.deepEqual(mailer.messages(), []);
    await mailer.close();
  });

  test('a wrong password fails ping and send', async () => {
    const { logger, lines } = capturingLogger();
    const mailer = createMailer({ smtpUrl: `smtp://mailer:wrong@127.0.0.1:${port}`, from: 'no-reply@example.test', logger });
    await assert.rejects(mailer.ping());
    await assert.rejects(mailer.send({ to: 'x@example.test', subject: 'S', text: 'token=SECRET-3' }));
    assert.ok(!JSON.stringify(lines).includes('SECRET'), 'a body reached the log');
    await mailer.close();
  });

  test('an unreachable server fails ping', async () => {
    const mailer = createMailer({ smtpUrl: 'smtp://127.0.0.1:1', from: 'no-reply@example.test', logger: pino({ level: 'silent' }) });
    await assert.rejects(mailer.ping());
    await mailer.close();
  });
});
