import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@gatehouse/platform/config';
import { createTestDatabase, testServers } from '@gatehouse/platform/testing';
import { startService } from '@gatehouse/platform/service';
import { auditService } from './service';
import { AUDIENCE, ISSUER, createTestShared, createTestTokens, createTestTransport, eventually, testConfig } from './testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('auditService', () => {
  let dir: string;
  let pg: Awaited<ReturnType<typeof createTestDatabase>>;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'audit-svc-'));
    pg = await createTestDatabase();
  });
  after(async () => {
    await pg.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('opens its database from config, serves, closes, and keeps the chain across a restart', async () => {
    const tokens = await createTestTokens();
    const config = testConfig({ DATA_DIR: dir, ...(pg.url ? { AUDIT_DATABASE_URL: pg.url } : {}) });
    const tenant = randomUUID();
    const token = await tokens.mint({ sub: randomUUID(), tid: tenant });
    const tt = await createTestTransport();
    const shared = await createTestShared(tt.transport);
    try {
      const seqs: number[] = [];
      for (let run = 0; run < 2; run++) {
        const svc = await startService(auditService, config, { ...shared, verificationKeys: tokens.jwks });
        try {
          assert.equal(svc.name, 'audit');
          const ready = await svc.app.inject({ method: 'GET', url: '/readyz' });
          assert.equal(ready.statusCode, 200, ready.body);
          const res = await svc.app.inject({ method: 'POST', url: '/api/v1/social-logs', headers: { authorization: `Bearer ${token}` }, payload: { type: 'app.opened' } });
          assert.equal(res.statusCode, 201, res.body);
          seqs.push(res.json().seq);
        } finally {
          await svc.close();
        }
      }
      assert.deepEqual(seqs, [1, 2], 'the second run continues the chain the first one wrote');
    } finally {
      await shared.close();
      await tt.cleanup();
    }
  });

  test('refuses to start without a way to verify tokens', async () => {
    const tt = await createTestTransport();
    const shared = await createTestShared(tt.transport);
    try {
      await assert.rejects(auditService.create(testConfig({ DATA_DIR: dir }), shared), ConfigError);
    } finally {
      await shared.close();
      await tt.cleanup();
    }
  });
});

describe('npm run start:audit (the service alone)', () => {
  let jwksServer: Server;
  let dir: string;
  let pg: Awaited<ReturnType<typeof createTestDatabase>>;
  let tokens: Awaited<ReturnType<typeof createTestTokens>>;

  before(async () => {
    tokens = await createTestTokens();
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [tokens.jwk] }));
    });
    jwksServer.listen(0, '127.0.0.1');
    await once(jwksServer, 'listening');
    dir = await mkdtemp(path.join(tmpdir(), 'audit-main-'));
    pg = await createTestDatabase();
  });
  after(async () => {
    jwksServer.close();
    await pg.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('starts on its port, serves with tokens verified through JWKS_URL, and exits cleanly on SIGTERM', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(DATABASE_URL|AUDIT_DATABASE_URL|REDIS_URL|NATS_URL|PORT|DATA_DIR)$/.test(k)) env[k] = v;
    Object.assign(env, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`,
      TOKEN_ISSUER: ISSUER,
      TOKEN_AUDIENCE: AUDIENCE,
      // Embedded events and limits: the shared JetStream stream belongs to other test runs.
      ...(testServers.databaseUrl && pg.url ? { DATABASE_URL: pg.url } : {}),
    });
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/audit/src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(child, 'exit');
    try {
      const base = `http://127.0.0.1:${port}`;
      // PGlite creates its data directory on first start: ~10 s idle, far more on a busy machine.
      await eventually(async () => assert.equal((await fetch(`${base}/healthz`)).status, 200), 180_000);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const tenant = randomUUID();
      const user = randomUUID();
      const token = await tokens.mint({ sub: user, tid: tenant });
      const created = await fetch(`${base}/api/v1/social-logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'profile.viewed', targetId: 'p-1' }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const me = await fetch(`${base}/api/v1/audit/me`, { headers: { authorization: `Bearer ${token}` } });
      const items = ((await me.json()) as { items: unknown }).items as Array<{ type: string; actorId: string }>;
      assert.deepEqual(items.map((e) => [e.type, e.actorId]), [['social.events.profile.viewed', user]]);
      const forged = await fetch(`${base}/api/v1/audit/me`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
      assert.equal(forged.status, 401);
    } finally {
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, output);
    }
  });
});
