/**
 * `gatehouse start` as a user runs it (`npm start`: package.json's "start" command, which runs
 * the production bundle, building it first when it is stale): a child process, every service
 * behind the gateway, the banner, a real request through the gateway, then SIGTERM and a
 * clean exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, testServers } from '@gatehouse/platform/testing';

/**
 * With real NATS the started system runs on a stream of its own (NATS_STREAM): on the shared
 * default stream its audit consumer would start behind every event other runs left there, and
 * the gateway's readiness (which includes audit's) would wait for it to catch up. Deleted after.
 */
async function deleteStream(stream: string): Promise<void> {
  if (!testServers.natsUrl) return;
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: testServers.natsUrl });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** `npm start`'s command line after `node` (run without npm, so SIGTERM reaches the server itself). */
const npmStart = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.trim().split(/\s+/);

test('npm start: ready banner, a working gateway, graceful exit on SIGTERM', { timeout: 240_000 }, async () => {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-start-'));
  const prefix = `ghstart${randomBytes(4).toString('hex')}`;
  assert.equal(npmStart[0], 'node', 'package.json "start" runs node');
  const child = spawn(process.execPath, [...npmStart.slice(1), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      REDIS_URL: testServers.redisUrl,
      NATS_URL: testServers.natsUrl,
      NATS_STREAM: prefix.toUpperCase(),
      NATS_SUBJECT_PREFIX: prefix,
      // a free port: parallel runs must not race for the default 9464
      METRICS_PORT: '0',
      GRPC_PORT: '0',
      NODE_NO_WARNINGS: '1',
      GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const started = Date.now();
    while (!out.includes('Ctrl+C stops it.')) {
      if (child.exitCode !== null) assert.fail(`start exited early (${child.exitCode}):\n${out}\n${err}`);
      if (Date.now() - started > 200_000) assert.fail(`no banner after 200 s:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /URL\s+(http:\/\/\S+)/.exec(out)?.[1];
    assert.ok(url, out);
    assert.match(out, /ready in \d+\.\d s/);
    assert.match(out, /API docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    assert.match(out, db.url ? /Mode\s+PostgreSQL/ : /Mode\s+PGlite/);

    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const reg = await fetch(`${url}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `start-${Date.now()}@example.test`, password: 'correct horse battery staple 7' }),
    });
    assert.equal(reg.status, 201, await reg.clone().text());
    const { accessToken } = (await reg.json()) as { accessToken: string };
    // users and audit run behind the gateway too
    for (const area of ['/api/v1/events', '/api/v1/audit/me']) {
      const res = await fetch(`${url}${area}`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(res.status, 200, `${area}: ${await res.text()}`);
    }

    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await deleteStream(prefix.toUpperCase()).catch(() => {});
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
