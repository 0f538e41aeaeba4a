/**
 * Issue 15, the system view and readiness: `GET /api/v1/admin/system` (superadmin) gathers
 * every service's readiness, version, uptime and the gateway's figures of the last hour, and
 * the gateway's `/readyz` reflects every upstream it routes to: a stopped service makes the
 * gateway unready and shows as `down` in the view.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEHOUSE_VERSION } from '@gatehouse/platform/version';
import { metricValue } from '@gatehouse/platform/metrics';
import { call, login, register, type Account } from '../client';
import { startTestSystem, type TestSystem } from '../system';

const PATH = '/api/v1/admin/system';

describe('e2e: system view and readiness of every upstream', () => {
  let system: TestSystem;
  let admin: Account;

  before(async () => {
    system = await startTestSystem();
    admin = await login(system.url, system.admin.email, system.admin.password);
  });
  after(async () => {
    await system?.close();
  });

  test('only a superadmin may read it: 401 without a token, 403 for a user', async () => {
    const anonymous = await call(system.url, 'GET', PATH);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.code, 'invalid_token');
    const user = await register(system.url);
    const refused = await call(system.url, 'GET', PATH, { token: user.accessToken });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'forbidden');
  });

  test('every service ready, with version, uptime, checks and the figures the gateway saw', async () => {
    for (let i = 0; i < 3; i++) await call(system.url, 'GET', '/api/v1/auth/me', { token: admin.accessToken });
    const r = await call(system.url, 'GET', PATH, { token: admin.accessToken });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.services.map((s: { name: string }) => s.name), ['gateway', 'auth', 'users', 'audit']);
    for (const s of r.body.services) {
      assert.equal(s.status, 'ready', `${s.name}: ${JSON.stringify(s.checks)}`);
      assert.equal(s.version, GATEHOUSE_VERSION);
      assert.ok(Number.isInteger(s.uptimeSeconds) && s.uptimeSeconds >= 0);
      assert.ok(Object.values(s.checks).every((v) => v === 'ok'), JSON.stringify(s.checks));
      assert.ok(Array.isArray(s.figures.history));
    }
    const auth = r.body.services.find((s: { name: string }) => s.name === 'auth');
    assert.ok(auth.figures.requestsLastHour >= 4, `auth requests seen by the gateway: ${auth.figures.requestsLastHour}`);
    assert.ok(auth.figures.history.length >= 1);
    assert.equal(typeof auth.figures.p99MsLastHour, 'number');
    assert.ok(r.body.dependencies.some((d: { name: string; service: string; status: string }) => d.service === 'auth' && d.name === 'database' && d.status === 'up'));
    assert.ok(r.body.dependencies.some((d: { name: string; service: string }) => d.service === 'gateway' && d.name === 'kv'));
  });

  test('a stopped upstream: the gateway /readyz answers 503 naming it, and the view shows it down; back up, ready again', async () => {
    const ready = await system.fetch('/readyz');
    assert.equal(ready.status, 200);
    const checks = ((await ready.json()) as { checks: Record<string, string> }).checks;
    for (const name of ['auth', 'users', 'audit', 'kv', 'transport']) assert.equal(checks[name], 'ok', `${name} in ${JSON.stringify(checks)}`);

    await system.stopBackend('audit');
    try {
      const down = await system.fetch('/readyz');
      assert.equal(down.status, 503);
      const body = (await down.json()) as { checks: Record<string, string> };
      assert.notEqual(body.checks.audit, 'ok');
      assert.equal(body.checks.users, 'ok');
      // the "dependency down" alert's series
      assert.equal(await metricValue(system.shared.registry, 'gatehouse_dependency_up', { service: 'gateway', dependency: 'audit' }), 0);
      assert.equal(await metricValue(system.shared.registry, 'gatehouse_dependency_up', { service: 'gateway', dependency: 'users' }), 1);
      const view = await call(system.url, 'GET', PATH, { token: admin.accessToken });
      assert.equal(view.status, 200);
      assert.equal(view.body.services.find((s: { name: string }) => s.name === 'audit').status, 'down');
      assert.equal(view.body.services.find((s: { name: string }) => s.name === 'users').status, 'ready');
    } finally {
      await system.startBackend('audit');
    }
    assert.equal((await system.fetch('/readyz')).status, 200);
  });
});
