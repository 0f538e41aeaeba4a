/**
 * Webhook targets: on the whole system with WEBHOOK_ALLOW_PRIVATE unset, non-public URLs are
 * refused at creation and at send time; and the target checks themselves (address ranges, the
 * pinned lookup, no redirects) as units.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { metricValue } from '@gatehouse/platform/metrics';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { BASE_DOMAIN, eventually, startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { checkTargetUrl, checkedLookup, createTargetAgent, isPublicAddress } from './webhooks.target';
import { WEBHOOK_SECRET_PURPOSE } from './webhooks.service';
import { insertEndpoint } from './webhooks.queries';
import { startReceiver, type Receiver } from './webhooks.fixtures';

describe('webhooks: non-public targets (WEBHOOK_ALLOW_PRIVATE unset)', () => {
  let s: TestSystem;
  let receiver: Receiver;

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN, env: { WEBHOOK_RETRY_SCALE: '0.001', WEBHOOK_POLL_MS: '20' } });
    receiver = await startReceiver(() => undefined);
  });
  after(async () => {
    await receiver?.close();
    await s?.close();
  });

  test('literal loopback, private, link-local, ULA and multicast URLs are refused at creation', async () => {
    const tenant = await s.createTenant({});
    for (const url of [
      receiver.url,
      'http://10.1.2.3/x',
      'http://192.168.0.10/x',
      'http://172.16.5.5/x',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]:8080/x',
      'http://[fd00::1]/x',
      'http://[fe80::1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://224.0.0.1/x',
      'http://0.0.0.0/x',
      'http://100.64.0.1/x',
      'http://localhost:8080/x',
      'http://api.localhost/x',
    ]) {
      const r = await s.request('POST', '/api/v1/admin/webhooks', { tenant: tenant.slug, token: tenant.admin!.accessToken, body: { url, events: ['user.events.*'] } });
      assert.equal(r.status, 400, url);
      assert.equal(r.body.code, 'webhook_target_refused', url);
    }
    const ok = await s.request('POST', '/api/v1/admin/webhooks', { tenant: tenant.slug, token: tenant.admin!.accessToken, body: { url: 'https://93.184.215.14/hook', events: ['social.events.never'] } });
    assert.equal(ok.status, 201, 'a public address is accepted');
  });

  test('a name that resolves to loopback is refused at send time: nothing reaches the receiver', async () => {
    const tenant = await s.createTenant({});
    const id = randomUUID();
    // as if it had resolved to a public address when it was created: the send-time check must hold on its own
    await s.databases.auth.withTenant(tenant.id, (trx) =>
      insertEndpoint(trx, {
        id,
        tenant_id: tenant.id,
        url: `http://localhost:${receiver.port}/hook`,
        description: null,
        events: ['user.events.*'],
        secret_sealed: createSecretBox(s.config.secret!, WEBHOOK_SECRET_PURPOSE).seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
        disabled_at: null,
        disabled_reason: null,
        failing_since: null,
      }),
    );
    await s.register({ tenant: tenant.slug });
    await eventually(async () => {
      const list = await s.request('GET', `/api/v1/admin/webhooks/${id}/deliveries`, { tenant: tenant.slug, token: tenant.admin!.accessToken });
      const d = list.body.items[0];
      assert.ok(d && d.attempt >= 1, 'attempted');
      assert.match(d.error, /target refused/);
    }, 30_000);
    assert.equal(receiver.receipts.length, 0);
    assert.ok((await metricValue(s.shared.registry, 'gatehouse_webhook_deliveries_total', { result: 'refused' }))! >= 1);
  });
});

describe('webhooks: target checks (units)', () => {
  test('address ranges', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.31.255.255', '192.168.1.1', '169.254.1.1', '::1', 'fd12::1', 'fe80::1', '::ffff:10.0.0.1', '224.0.0.5', 'ff02::1', '0.0.0.0', '::']) {
      assert.equal(isPublicAddress(a), false, a);
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPublicAddress(a), true, a);
    assert.throws(() => checkTargetUrl('http://127.0.0.1/', false), { code: 'webhook_target_refused' });
    assert.equal(checkTargetUrl('http://127.0.0.1/', true).hostname, '127.0.0.1');
  });

  test('the pinned lookup refuses loopback answers and the agent never connects', async () => {
    await new Promise<void>((resolve, reject) =>
      checkedLookup(false)('localhost', {}, (err) => {
        try {
          assert.match(String(err?.message), /resolves to no public address/);
          resolve();
        } catch (e) {
          reject(e);
        }
      }),
    );
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits += 1;
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const agent = createTargetAgent({ allowPrivate: false, timeoutMs: 2000 });
    await assert.rejects(request(`http://localhost:${port}/`, { dispatcher: agent }));
    const open = createTargetAgent({ allowPrivate: true, timeoutMs: 2000 });
    const ok = await request(`http://localhost:${port}/`, { dispatcher: open });
    await ok.body.text();
    assert.equal(hits, 1, 'only the allowed agent reached the server');
    await agent.close();
    await open.close();
    server.close();
  });

  test('redirects are not followed', async () => {
    let hits = 0;
    const server = http.createServer((req, res) => {
      hits += 1;
      res.writeHead(302, { location: '/elsewhere' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = createTargetAgent({ allowPrivate: true, timeoutMs: 2000 });
    const r = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { dispatcher: agent, method: 'POST', body: '{}' });
    await r.body.text();
    assert.equal(r.statusCode, 302);
    assert.equal(hits, 1);
    await agent.close();
    server.close();
  });
});
