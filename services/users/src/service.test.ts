/**
 * The users service as the process starter and `npm run start:users` run it: createUsersService
 * over real HTTP, and main.ts as a child process verifying tokens through a JWKS URL.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import client from 'prom-client';
import { loadConfig } from '@gatehouse/platform/config';
import { createMemoryTransport } from '@gatehouse/platform/events';
import { createKvStore } from '@gatehouse/platform/kv';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { testLogger } from '@gatehouse/platform/testing';
import { AUDIENCE, ISSUER, createTestTokens, eventually, userEvent } from './testing';
import { startService } from '@gatehouse/platform/service';
import { usersService } from './service';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Process deps all in memory (in-process events, memory limits), and token keys. */
async function embedded() {
  const kv = createKvStore({ logger: testLogger });
  const revocations = createRevocationList({ kv, logger: testLogger });
  await revocations.start();
  const transport = createMemoryTransport({ logger: testLogger });
  return {
    shared: { logger: testLogger, transport, revocations, registry: new client.Registry() },
    tokens: await createTestTokens(),
    async close() {
      await revocations.stop();
      await transport.close();
      await kv.close();
    },
  };
}

describe('usersService (embedded: PGlite, files, in-process events, generated secret)', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-users-svc-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serves over real HTTP, keeps a 0600 secret under DATA_DIR, and closes cleanly', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, TOKEN_ISSUER: ISSUER, TOKEN_AUDIENCE: AUDIENCE, LOG_LEVEL: 'silent' });
    const { shared, tokens, close } = await embedded();
    const { transport } = shared;
    const svc = await startService(usersService, config, { ...shared, verificationKeys: tokens.jwks });
    try {
      assert.equal(svc.name, 'users');
      const secret = await stat(path.join(dataDir, 'secret'));
      assert.equal(secret.mode & 0o777, 0o600);
      assert.ok((await readFile(path.join(dataDir, 'secret'), 'utf8')).trim().length >= 32);

      const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
      const u = { id: randomUUID(), tenantId: randomUUID() };
      await transport.publish(userEvent('created', { ...u, username: 'http' }));
      const token = await tokens.mint({ sub: u.id, tid: u.tenantId });
      const body = await eventually(async () => {
        const res = await fetch(`${address}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
        return res.json() as Promise<{ username: string }>;
      });
      assert.equal(body.username, 'http');
      assert.equal((await fetch(`${address}/healthz`)).status, 200);
      assert.equal((await fetch(`${address}/readyz`)).status, 200);
      assert.equal((await fetch(`${address}/metrics`)).status, 404);
      const metrics = await svc.app.metricsRegistry.metrics();
      assert.match(metrics, /gatehouse_http_request_duration_seconds_bucket\{[^}]*service="users"/);
    } finally {
      await svc.close();
      await close();
    }
  });

  test('a truncated upload over a real connection (client hangs up mid-file) leaves the service healthy and nothing stored', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, TOKEN_ISSUER: ISSUER, TOKEN_AUDIENCE: AUDIENCE, LOG_LEVEL: 'silent' });
    const { shared, tokens, close } = await embedded();
    const { transport } = shared;
    const svc = await startService(usersService, config, { ...shared, verificationKeys: tokens.jwks });
    try {
      const address = new URL(await svc.app.listen({ host: '127.0.0.1', port: 0 }));
      const u = { id: randomUUID(), tenantId: randomUUID() };
      await transport.publish(userEvent('created', u));
      const token = await tokens.mint({ sub: u.id, tid: u.tenantId });
      await eventually(async () => {
        const res = await fetch(`${address.origin}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
      });
      const boundary = 'cut-boundary';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: address.hostname,
          port: address.port,
          method: 'PUT',
          path: '/api/v1/users/me/avatar',
          headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 100_000 },
        });
        req.on('error', () => resolve());
        req.on('response', (res) => {
          res.resume();
          resolve();
        });
        req.write(head);
        req.write(Buffer.alloc(5000, 1));
        setTimeout(() => req.destroy(), 100);
      });
      const me = await fetch(`${address.origin}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { avatarUrl: string | null }).avatarUrl, null);
      const left = await stat(path.join(dataDir, 'objects', 'avatars', u.tenantId)).then(() => true, () => false);
      assert.equal(left, false, 'nothing stored for the aborted upload');
    } finally {
      await svc.close();
      await close();
    }
  });

  test('without a JWKS source it refuses to start with a clear error', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const transport = createMemoryTransport({ logger: testLogger });
    const kv = createKvStore({ logger: testLogger });
    const revocations = createRevocationList({ kv, logger: testLogger });
    await assert.rejects(
      usersService.create(config, { logger: testLogger, transport, revocations, registry: new client.Registry() }),
      /JWKS_URL/,
    );
    await transport.close();
    await kv.close();
  });
});

describe('npm run start:users (main.ts as its own process)', () => {
  test('listens on PORT, verifies tokens through JWKS_URL, answers problem+json, stops on SIGTERM', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-users-main-'));
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'main-test', alg: 'ES256', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/users/src/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        JWKS_URL: jwksUrl,
        TOKEN_ISSUER: ISSUER,
        TOKEN_AUDIENCE: AUDIENCE,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const address = await eventually(() => {
        const line = out.split('\n').find((l) => l.includes('users service listening'));
        assert.ok(line, `not listening yet:\n${out.slice(-2000)}`);
        return (JSON.parse(line) as { address: string }).address;
      }, 60_000);
      const token = await new SignJWT({ tid: randomUUID(), sid: randomUUID(), roles: ['user'], amr: ['pwd'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'main-test', typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(randomUUID())
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      const res = await fetch(`${address}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 404, 'verified through the JWKS URL; no profile yet');
      assert.equal(((await res.json()) as { code: string }).code, 'profile_not_found');
      const bad = await fetch(`${address}/api/v1/users/me`, { headers: { authorization: 'Bearer x.y.z' } });
      assert.equal(bad.status, 401);
      assert.equal((await fetch(`${address}/readyz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      jwks.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
