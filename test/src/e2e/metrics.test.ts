/**
 * Issue 15, metrics: the whole system in one process (as `gatehouse start`), its registry
 * served on a metrics port of its own. `promtool check metrics` accepts the output, every
 * domain metric an operator needs is there, and each moves when its event happens (a failed
 * login increments the failure counter, a reused refresh token the reuse counter...). The
 * gateway's public port answers 404 for /metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { startMetricsServer, type MetricsServer } from '@gatehouse/platform/metrics';
import { testServers } from '@gatehouse/platform/testing';
import { call, eventually, register, uniqueEmail } from '../client';
import { checkMetrics, promtoolMissing, sample } from './promtool';
import { startTestSystem, type TestSystem } from '../system';

const LOGIN = '/api/v1/auth/login';

describe('e2e: domain metrics on the metrics port', () => {
  let system: TestSystem;
  let metrics: MetricsServer;
  const scrape = async () => (await fetch(`${metrics.url}/metrics`)).text();
  const value = async (name: string, labels: Record<string, string> = {}) => sample(await scrape(), name, labels) ?? 0;

  before(async () => {
    system = await startTestSystem({ env: { THROTTLE_ACCOUNT_MAX_FAILURES: '3', RATE_LIMIT_USER_MAX: '3' } });
    metrics = await startMetricsServer({ registry: system.shared.registry, host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await metrics?.close();
    await system?.close();
  });

  test('the public port answers 404 for /metrics; the metrics port serves them', async () => {
    const pub = await system.fetch('/metrics');
    assert.equal(pub.status, 404);
    assert.equal(((await pub.json()) as { code: string }).code, 'not_found');
    const res = await fetch(`${metrics.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal((await fetch(`${metrics.url}/other`)).status, 404);
  });

  test('promtool check metrics passes, and every domain metric is there', { skip: promtoolMissing() }, async () => {
    await register(system.url);
    const text = await scrape();
    const checked = await checkMetrics(text);
    assert.ok(checked.ok, `promtool check metrics:\n${checked.output}`);
    const names = [
      'gatehouse_http_request_duration_seconds',
      'gatehouse_auth_logins_total',
      'gatehouse_auth_mfa_challenges_total',
      'gatehouse_auth_lockouts_total',
      'gatehouse_auth_refresh_rotations_total',
      'gatehouse_auth_refresh_reuse_detected_total',
      'gatehouse_auth_argon2_queue_depth',
      'gatehouse_revocations_published_total',
      'gatehouse_revocations_applied_total',
      'gatehouse_gateway_rate_limited_total',
      'gatehouse_outbox_backlog',
      'gatehouse_outbox_oldest_age_seconds',
      'gatehouse_outbox_published_total',
      'gatehouse_outbox_publish_failures_total',
      'gatehouse_consumer_events_total',
      'gatehouse_consumer_lag_seconds',
      'gatehouse_consumer_dead_letters_total',
      'gatehouse_attendance_scans_total',
      'gatehouse_audit_ingested_total',
      'gatehouse_webhook_deliveries_total',
      'gatehouse_webhook_deliveries_failed_total',
      'gatehouse_webhook_endpoints_disabled_total',
      'gatehouse_dependency_up',
      'nodejs_active_handles',
    ];
    if (testServers.databaseUrl) names.push('gatehouse_db_pool_connections', 'gatehouse_db_pool_waiting');
    for (const n of names) assert.match(text, new RegExp(`^# TYPE ${n} `, 'm'), `${n} is exported`);
    for (const service of ['auth', 'users', 'audit']) {
      assert.notEqual(sample(text, 'gatehouse_outbox_backlog', { service }), undefined, `outbox backlog of ${service}`);
    }
    for (const consumer of ['audit-ingest', 'users-replica', 'gateway-tenants']) {
      assert.notEqual(sample(text, 'gatehouse_consumer_lag_seconds', { consumer }), undefined, `lag of ${consumer}`);
    }
    for (const dependency of ['auth', 'users', 'audit', 'kv', 'transport']) assert.equal(sample(text, 'gatehouse_dependency_up', { service: 'gateway', dependency }), 1, dependency);
    assert.doesNotMatch(text, /_total\{[^}]*\} .*\n# TYPE [a-z_]+_total gauge/, 'no gauge ends in _total');
  });

  test('logins by result and method: a wrong password counts a failure, a right one a success', async () => {
    const a = await register(system.url);
    const failures = await value('gatehouse_auth_logins_total', { result: 'failure', method: 'password' });
    const successes = await value('gatehouse_auth_logins_total', { result: 'success', method: 'password' });
    assert.equal((await call(system.url, 'POST', LOGIN, { body: { email: a.email, password: 'not the password at all' } })).status, 401);
    assert.equal(await value('gatehouse_auth_logins_total', { result: 'failure', method: 'password' }), failures + 1);
    assert.equal((await call(system.url, 'POST', LOGIN, { body: { email: a.email, password: a.password } })).status, 200);
    assert.equal(await value('gatehouse_auth_logins_total', { result: 'success', method: 'password' }), successes + 1);
  });

  test('lockouts: the failure that reaches the limit counts one lockout; the next attempt counts as locked', async () => {
    const a = await register(system.url);
    const lockouts = await value('gatehouse_auth_lockouts_total', { scope: 'password' });
    const locked = await value('gatehouse_auth_logins_total', { result: 'locked', method: 'password' });
    for (let i = 0; i < 3; i++) assert.equal((await call(system.url, 'POST', LOGIN, { body: { email: a.email, password: `wrong password ${i}` } })).status, 401);
    assert.equal(await value('gatehouse_auth_lockouts_total', { scope: 'password' }), lockouts + 1);
    assert.equal((await call(system.url, 'POST', LOGIN, { body: { email: a.email, password: a.password } })).status, 429);
    assert.equal(await value('gatehouse_auth_logins_total', { result: 'locked', method: 'password' }), locked + 1);
  });

  test('refresh: a rotation counts once; a reused token counts a reuse detection and publishes (and applies) a session revocation', async () => {
    const a = await register(system.url);
    const rotations = await value('gatehouse_auth_refresh_rotations_total');
    const reuse = await value('gatehouse_auth_refresh_reuse_detected_total');
    const published = await value('gatehouse_revocations_published_total', { kind: 'session' });
    const applied = await value('gatehouse_revocations_applied_total', { kind: 'session' });
    const first = await call(system.url, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: a.refreshToken } });
    assert.equal(first.status, 200, first.text);
    assert.equal(await value('gatehouse_auth_refresh_rotations_total'), rotations + 1);
    const again = await call(system.url, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: a.refreshToken } });
    assert.equal(again.status, 401);
    assert.equal(again.body.code, 'refresh_token_reused');
    assert.equal(await value('gatehouse_auth_refresh_reuse_detected_total'), reuse + 1);
    assert.ok((await value('gatehouse_revocations_published_total', { kind: 'session' })) > published);
    // the revocation comes back through the shared store's channel (Redis pub/sub, or in process)
    await eventually(async () => assert.ok((await value('gatehouse_revocations_applied_total', { kind: 'session' })) > applied));
  });

  test('MFA challenges by result: a wrong code counts a failure, a backup code a success; the login counts mfa_required, then success', async () => {
    const a = await register(system.url);
    const setup = await call(system.url, 'POST', '/api/v1/auth/mfa/totp/setup', { token: a.accessToken });
    assert.equal(setup.status, 200, setup.text);
    const code = new TOTP({ secret: Secret.fromBase32(setup.body.secret) }).generate();
    const confirm = await call(system.url, 'POST', '/api/v1/auth/mfa/totp/confirm', { token: a.accessToken, body: { code } });
    assert.equal(confirm.status, 200, confirm.text);
    const required = await value('gatehouse_auth_logins_total', { result: 'mfa_required', method: 'password' });
    const wrong = await value('gatehouse_auth_mfa_challenges_total', { result: 'failure', method: 'totp' });
    const right = await value('gatehouse_auth_mfa_challenges_total', { result: 'success', method: 'backup_code' });
    const challenge = await call(system.url, 'POST', LOGIN, { body: { email: a.email, password: a.password } });
    assert.equal(challenge.body.mfaRequired, true);
    assert.equal(await value('gatehouse_auth_logins_total', { result: 'mfa_required', method: 'password' }), required + 1);
    const bad = await call(system.url, 'POST', '/api/v1/auth/login/mfa', { body: { mfaToken: challenge.body.mfaToken, code: code === '000000' ? '111111' : '000000' } });
    assert.equal(bad.status, 401, bad.text);
    assert.equal(await value('gatehouse_auth_mfa_challenges_total', { result: 'failure', method: 'totp' }), wrong + 1);
    const good = await call(system.url, 'POST', '/api/v1/auth/login/mfa', { body: { mfaToken: challenge.body.mfaToken, backupCode: confirm.body.backupCodes[0] } });
    assert.equal(good.status, 200, good.text);
    assert.equal(await value('gatehouse_auth_mfa_challenges_total', { result: 'success', method: 'backup_code' }), right + 1);
  });

  test('rate-limit rejections by limit: the per-user limit refusing a request counts under limit="user"', async () => {
    const a = await register(system.url);
    const before = await value('gatehouse_gateway_rate_limited_total', { limit: 'user' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(system.url, 'GET', '/api/v1/auth/me', { token: a.accessToken })).status);
    const refused = statuses.filter((s) => s === 429).length;
    assert.ok(refused >= 1, `statuses ${statuses.join(',')}`);
    assert.equal(await value('gatehouse_gateway_rate_limited_total', { limit: 'user' }), before + refused);
  });

  test('outbox backlog and oldest age grow while the relay is stopped and drain when it runs; publishes count', async () => {
    const relay = system.auth.deps.relay;
    await relay.stop();
    try {
      const published = await value('gatehouse_outbox_published_total', { service: 'auth' });
      // a failed login commits a login_failed event that nobody publishes now
      await call(system.url, 'POST', LOGIN, { body: { email: uniqueEmail('nobody'), password: 'whatever it is 123' } });
      await eventually(async () => {
        assert.ok((await value('gatehouse_outbox_backlog', { service: 'auth' })) >= 1);
        assert.ok((await value('gatehouse_outbox_oldest_age_seconds', { service: 'auth' })) > 0);
      });
      relay.start();
      await eventually(async () => {
        assert.equal(await value('gatehouse_outbox_backlog', { service: 'auth' }), 0);
        assert.equal(await value('gatehouse_outbox_oldest_age_seconds', { service: 'auth' }), 0);
      });
      assert.ok((await value('gatehouse_outbox_published_total', { service: 'auth' })) > published);
    } finally {
      relay.start();
    }
  });

  test('consumers: events handled count per consumer and the lag is the last event time to handling', async () => {
    const before = await value('gatehouse_consumer_events_total', { consumer: 'audit-ingest', result: 'ok' });
    await register(system.url);
    await eventually(async () => assert.ok((await value('gatehouse_consumer_events_total', { consumer: 'audit-ingest', result: 'ok' })) > before));
    const lag = sample(await scrape(), 'gatehouse_consumer_lag_seconds', { consumer: 'audit-ingest' });
    assert.ok(lag !== undefined && lag >= 0 && lag < 600, `lag ${lag}`);
  });
});
