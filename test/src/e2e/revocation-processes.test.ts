/**
 * Issue 2, revocation across processes: the auth service and the gateway run as separate
 * processes sharing only Redis, as in production. Logout, a password change and an admin
 * disabling the account each make the access token fail at the gateway within 1 second,
 * not when it expires. Guards the shared revocation list (Redis sorted set + pub/sub).
 *
 * Needs real Redis: with the in-memory store each process has its own revocation list, so a
 * revocation in the auth process cannot reach the gateway process (the embedded mode runs
 * everything in one process, where it does).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, testServers } from '@gatehouse/platform/testing';
import { call, login, register, type Account } from '../client';
import { freePort, natsServerMissing, startNatsServer, type NatsServer } from './nats-server';
import { spawnService, startOkUpstream, type ServiceProcess } from './processes';

const skip = testServers.redisUrl
  ? undefined
  : 'needs real Redis (TEST_REDIS_URL): with the in-memory store a revocation made in the auth process cannot reach the gateway process';

/** Polls a gateway-only route with `token` until the gateway refuses it; returns how long that took. */
async function msUntilRefused(gatewayUrl: string, token: string, limitMs = 5000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await call(gatewayUrl, 'GET', '/api/v1/users/me', { token });
    if (r.status === 401) {
      assert.equal(r.body.code, 'invalid_token');
      assert.equal(r.headers['www-authenticate'], 'Bearer');
      return Date.now() - started;
    }
    assert.equal(r.status, 200, `until revoked the gateway lets the token through: ${r.text}`);
    if (Date.now() - started > limitMs) assert.fail(`the token still works at the gateway after ${limitMs} ms`);
    await sleep(20);
  }
}

describe('e2e: revocation across processes (auth and gateway apart, Redis between them)', { skip }, () => {
  let auth: ServiceProcess;
  let gateway: ServiceProcess;
  let upstream: Awaited<ReturnType<typeof startOkUpstream>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let nats: NatsServer | undefined;
  let dataDir: string;
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@example.test`;
  const adminPassword = 'correct horse battery staple admin';

  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'gh-e2e-proc-'));
    // A NATS server of our own when there is one: the processes' default stream name must not
    // land on the shared server. Without one each process keeps its events in process, which
    // revocation does not need.
    nats = natsServerMissing() ? undefined : await startNatsServer();
    upstream = await startOkUpstream();
    const common = {
      LOG_LEVEL: 'warn',
      REDIS_URL: testServers.redisUrl,
      NATS_URL: nats?.url,
      TOKEN_ISSUER: 'http://gatehouse.e2e',
      TOKEN_AUDIENCE: 'gatehouse',
      RATE_LIMIT_IP_MAX: '0',
      RATE_LIMIT_USER_MAX: '0',
      RATE_LIMIT_CREDENTIALS_MAX: '0',
    };
    const [authPort, gatewayPort] = [await freePort(), await freePort()];
    auth = await spawnService('auth', authPort, {
      ...common,
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
      GATEHOUSE_ADMIN_EMAIL: adminEmail,
      GATEHOUSE_ADMIN_PASSWORD: adminPassword,
    });
    gateway = await spawnService('gateway', gatewayPort, { ...common, AUTH_URL: auth.url, USERS_URL: upstream.url, AUDIT_URL: upstream.url });
  });
  after(async () => {
    const codes = [await gateway?.stop(), await auth?.stop()];
    await upstream?.close();
    await nats?.close();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0], `both processes exit cleanly on SIGTERM:\n${gateway?.output()}\n${auth?.output()}`);
  });

  test('logout: the access token fails at the gateway within 1 s', async (t) => {
    const a = await register(gateway.url);
    assert.equal((await call(gateway.url, 'GET', '/api/v1/users/me', { token: a.accessToken })).status, 200);
    const out = await call(gateway.url, 'POST', '/api/v1/auth/logout', { token: a.accessToken });
    assert.equal(out.status, 204, out.text);
    const ms = await msUntilRefused(gateway.url, a.accessToken);
    t.diagnostic(`refused at the gateway ${ms} ms after the logout answered`);
    assert.ok(ms < 1000, `${ms} ms`);
  });

  test("password change: the user's other sessions fail at the gateway within 1 s; the current one stays", async (t) => {
    const a = await register(gateway.url);
    const other: Account = await login(gateway.url, a.email, a.password);
    const changed = await call(gateway.url, 'POST', '/api/v1/auth/password/change', {
      token: a.accessToken,
      body: { currentPassword: a.password, newPassword: 'an entirely new passphrase 42' },
    });
    assert.equal(changed.status, 204, changed.text);
    const ms = await msUntilRefused(gateway.url, other.accessToken);
    t.diagnostic(`refused at the gateway ${ms} ms after the change answered`);
    assert.ok(ms < 1000, `${ms} ms`);
    assert.equal((await call(gateway.url, 'GET', '/api/v1/users/me', { token: a.accessToken })).status, 200, 'the session that changed it is kept');
  });

  test('admin disables the user: every token of theirs fails at the gateway within 1 s', async (t) => {
    const a = await register(gateway.url);
    const second = await login(gateway.url, a.email, a.password);
    const admin = await login(gateway.url, adminEmail, adminPassword);
    const disabled = await call(gateway.url, 'PATCH', `/api/v1/admin/users/${a.id}`, { token: admin.accessToken, body: { disabled: true } });
    assert.equal(disabled.status, 200, disabled.text);
    const ms = Math.max(await msUntilRefused(gateway.url, a.accessToken), await msUntilRefused(gateway.url, second.accessToken));
    t.diagnostic(`refused at the gateway ${ms} ms after the disable answered`);
    assert.ok(ms < 1000, `${ms} ms`);
    const again = await call(gateway.url, 'POST', '/api/v1/auth/login', { body: { email: a.email, password: a.password } });
    assert.equal(again.status, 403);
    assert.equal(again.body.code, 'account_disabled');
  });
});
