/**
 * Webhooks (issue 16 item 4) on the whole system (real PostgreSQL, Redis, NATS JetStream when
 * the run has them), with a local receiver that verifies every request with the
 * `standardwebhooks` package (webhooks.fixtures.ts). Retry delays are scaled down
 * (WEBHOOK_RETRY_SCALE), and every wait is for a state (`eventually`), never for a time.
 * Non-public targets: webhooks.target.test.ts; the retry schedule: webhooks.schedule.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { metricValue } from '@gatehouse/platform/metrics';
import { BASE_DOMAIN, ndjson, eventually, PASSWORD, startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { WEBHOOK_SECRET_PURPOSE } from './webhooks.service';
import { insertDeliveries } from './webhooks.queries';
import { authPurgeTasks } from '../purge/purge.service';
import { createWebhookDelivery } from './webhooks.delivery';
import { countBy, startReceiver, type Receiver } from './webhooks.fixtures';

describe('webhooks: delivery, retries, replay, authorization', () => {
  let s: TestSystem;
  let receiver: Receiver;
  let secret: string | undefined;
  let tenant: Awaited<ReturnType<TestSystem['createTenant']>>;
  let adminToken: string;
  let hookId: string;

  before(async () => {
    s = await startTestSystem({
      baseDomain: BASE_DOMAIN,
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCALE: '0.001', WEBHOOK_POLL_MS: '20', WEBHOOK_DISABLE_AFTER_FAILURES: '40' },
    });
    receiver = await startReceiver(() => secret);
    tenant = await s.createTenant({});
    adminToken = tenant.admin!.accessToken;
  });
  after(async () => {
    await receiver?.close();
    await s?.close();
  });

  const api = (method: string, path: string, body?: unknown, token = adminToken, t = tenant.slug) =>
    s.request(method, `/api/v1/admin/webhooks${path}`, { tenant: t, token, body });

  test('create: the secret is shown once, stored sealed; list, get and patch never show it', async () => {
    const r = await api('POST', '', { url: receiver.url, events: ['user.events.*'], description: 'test receiver' });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    secret = r.body.secret;
    hookId = r.body.id;
    assert.deepEqual(r.body.events, ['user.events.*']);
    assert.equal(r.body.disabled, false);
    const got = await api('GET', `/${hookId}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.secret, undefined);
    const list = await api('GET', '');
    assert.deepEqual(list.body.items.map((w: { id: string }) => w.id), [hookId]);
    assert.equal(list.body.items[0].secret, undefined);
    const stored = await s.databases.auth.withTenant(tenant.id, (trx) => trx.selectFrom('webhook_endpoints').select('secret_sealed').where('id', '=', hookId).executeTakeFirstOrThrow());
    assert.ok(!stored.secret_sealed.includes(secret!.slice(6)), 'the secret is not stored in the clear');
    assert.equal(createSecretBox(s.config.secret!, WEBHOOK_SECRET_PURPOSE).open(stored.secret_sealed), secret);
  });

  test('every subscribed event is delivered once, signed, and nothing unsubscribed is', async () => {
    const users = [];
    for (let i = 0; i < 5; i++) users.push(await s.register({ tenant: tenant.slug }));
    const ids = new Set(users.map((u) => u.id));
    const ours = () => receiver.receipts.filter((r) => r.type === 'user.events.created' && ids.has(r.event.data.id));
    await eventually(() => assert.equal(ours().length, 5), 30_000);
    for (const r of receiver.receipts) {
      assert.ok(r.verified, `signature of ${r.id} verifies`);
      assert.match(r.type, /^user\.events\./, 'only subscribed types arrive');
      assert.equal(r.id, r.event.id, 'webhook-id is the event id');
    }
    // once: one receipt per event, and the delivery says one attempt
    assert.deepEqual([...countBy(ours().map((r) => r.id)).values()], [1, 1, 1, 1, 1]);
    // the receiver answered before the worker recorded the attempt: wait for the record
    await eventually(async () => {
      const deliveries = await api('GET', `/${hookId}/deliveries`);
      assert.equal(deliveries.status, 200);
      const mine = deliveries.body.items.filter((d: { eventId: string }) => ours().some((r) => r.id === d.eventId));
      assert.equal(mine.length, 5);
      for (const d of mine) {
        assert.equal(d.status, 'succeeded');
        assert.equal(d.attempt, 1);
        assert.equal(d.responseStatus, 200);
        assert.equal(d.responseExcerpt, 'ok thanks');
        assert.equal(d.nextAttemptAt, null);
      }
    });
    assert.ok((await metricValue(s.shared.registry, 'gatehouse_webhook_deliveries_total', { result: 'success' }))! >= 5);
  });

  test('the receiver down for a while: every event arrives after retries, once per webhook-id', async () => {
    await receiver.down();
    const users = [];
    for (let i = 0; i < 3; i++) users.push(await s.register({ tenant: tenant.slug }));
    const ids = new Set(users.map((u) => u.id));
    // down until every one of these deliveries has failed at least twice (recorded, scheduled again)
    const pendingOfOurs = async () => {
      const list = await api('GET', `/${hookId}/deliveries?limit=200`);
      const rows = [];
      for (const d of list.body.items) {
        if (d.eventType !== 'user.events.created') continue;
        const detail = await api('GET', `/${hookId}/deliveries/${d.id}`);
        const payload = await s.databases.auth.withTenant(tenant.id, (trx) => trx.selectFrom('webhook_deliveries').select('payload').where('id', '=', d.id).executeTakeFirstOrThrow());
        if (ids.has(JSON.parse(payload.payload).data.id)) rows.push(detail.body);
      }
      return rows;
    };
    await eventually(async () => {
      const rows = await pendingOfOurs();
      assert.equal(rows.length, 3);
      for (const d of rows) {
        assert.ok(d.attempt >= 2, `delivery ${d.id} has failed twice (${d.attempt})`);
        assert.equal(d.status, 'pending');
        assert.ok(d.nextAttemptAt, 'the next attempt is scheduled in the database');
        assert.ok(d.attempts.every((a: { outcome: string; error: string | null }) => a.outcome === 'failed' && a.error), 'every failed attempt is recorded with its error');
      }
    }, 30_000);
    await receiver.up();
    const ours = () => receiver.receipts.filter((r) => r.type === 'user.events.created' && ids.has(r.event.data.id));
    await eventually(() => assert.equal(ours().length, 3), 60_000);
    await eventually(async () => {
      for (const d of await pendingOfOurs()) {
        assert.equal(d.status, 'succeeded');
        assert.ok(d.attempt >= 3, 'delivered by a retry');
        assert.equal(new Set(d.attempts.map((a: { attempt: number }) => a.attempt)).size, d.attempts.length, 'each attempt recorded once');
        assert.equal(d.attempts.length, d.attempt, 'every attempt recorded');
      }
    });
    assert.deepEqual([...countBy(ours().map((r) => r.id)).values()], [1, 1, 1], 'no event twice under the same webhook-id');
    for (const r of ours()) assert.ok(r.verified);
    const got = await api('GET', `/${hookId}`);
    assert.equal(got.body.disabled, false);
    assert.equal(got.body.consecutiveFailures, 0, 'a success ends the failure streak');
  });

  test('replay sends the same event again under the same webhook-id; test events arrive', async () => {
    const list = await api('GET', `/${hookId}/deliveries`);
    const d = list.body.items.find((x: { status: string }) => x.status === 'succeeded');
    assert.ok(d);
    const before = receiver.receipts.filter((r) => r.id === d.eventId).length;
    const r = await api('POST', `/${hookId}/deliveries/${d.id}/replay`);
    assert.equal(r.status, 202, r.text);
    await eventually(() => assert.equal(receiver.receipts.filter((x) => x.id === d.eventId).length, before + 1), 30_000);
    await eventually(async () => {
      const detail = await api('GET', `/${hookId}/deliveries/${d.id}`);
      assert.equal(detail.body.status, 'succeeded');
      assert.equal(detail.body.attempt, d.attempt + 1);
      assert.equal(detail.body.attempts.length, d.attempt + 1);
    });
    const t = await api('POST', `/${hookId}/test`);
    assert.equal(t.status, 202, t.text);
    await eventually(() => assert.ok(receiver.receipts.some((x) => x.id === t.body.eventId && x.type === 'webhook.test' && x.verified)), 30_000);
    assert.equal((await api('POST', `/${hookId}/deliveries/${randomUUID()}/replay`)).body.code, 'delivery_not_found');
  });

  test('two delivery workers (replicas) on one queue: every attempt is sent once', async () => {
    const auth = s.services.auth.deps;
    const second = createWebhookDelivery({
      db: s.databases.auth,
      secret: s.config.secret!,
      transport: s.shared.transport,
      mailer: s.shared.mailer,
      metrics: auth.metrics,
      logger: auth.logger,
      config: s.config.webhooks,
      publicUrl: s.config.publicUrl,
    });
    await second.start();
    try {
      const ids: string[] = [];
      const results = await Promise.all(Array.from({ length: 40 }, () => api('POST', `/${hookId}/test`)));
      for (const r of results) {
        assert.equal(r.status, 202);
        ids.push(r.body.eventId);
      }
      // both workers are woken at once for every delivery
      for (let i = 0; i < 5; i++) second.nudge();
      await eventually(() => assert.equal(receiver.receipts.filter((x) => ids.includes(x.id)).length, 40), 30_000);
      await eventually(async () => {
        const list = await api('GET', `/${hookId}/deliveries?limit=100`);
        const mine = list.body.items.filter((d: { eventId: string }) => ids.includes(d.eventId));
        assert.equal(mine.length, 40);
        for (const d of mine) assert.deepEqual([d.status, d.attempt], ['succeeded', 1]);
      });
      assert.deepEqual([...new Set(countBy(receiver.receipts.filter((x) => ids.includes(x.id)).map((x) => x.id)).values())], [1], 'no attempt sent twice');
    } finally {
      await second.stop();
    }
  });

  test('an endpoint failing again and again is disabled and the tenant\'s admins are mailed', async () => {
    const other = await startReceiver(() => undefined);
    other.status = 503;
    const created = await api('POST', '', { url: other.url, events: ['social.events.nothing'] });
    assert.equal(created.status, 201);
    // test events until the endpoint is disabled (each fails and retries within milliseconds here)
    let queued = 0;
    for (let i = 0; i < 30; i++) {
      const r = await api('POST', `/${created.body.id}/test`);
      if (r.status === 409) break;
      assert.equal(r.status, 202);
      queued += 1;
    }
    assert.ok(queued >= 1);
    await eventually(async () => {
      const got = await api('GET', `/${created.body.id}`);
      assert.equal(got.body.disabled, true);
      assert.equal(got.body.disabledReason, 'failures');
    }, 60_000);
    const adminEmail = (await s.request('GET', '/api/v1/auth/me', { tenant: tenant.slug, token: adminToken })).body.email;
    await eventually(() => assert.ok(s.shared.mailer.messages().some((m) => m.to === adminEmail && m.subject === 'A webhook endpoint was disabled' && m.text.includes(other.url))));
    assert.equal((await api('POST', `/${created.body.id}/test`)).body.code, 'webhook_disabled');
    // enabling again starts a fresh streak
    const enabled = await api('PATCH', `/${created.body.id}`, { disabled: false });
    assert.equal(enabled.body.disabled, false);
    assert.equal(enabled.body.consecutiveFailures, 0);
    const deleted = await api('DELETE', `/${created.body.id}`);
    assert.equal(deleted.status, 204, deleted.text);
    assert.equal((await api('GET', `/${created.body.id}`)).status, 404);
    await other.close();
  });

  test('authorization: users and organizers are refused, another tenant\'s webhook is 404', async () => {
    assert.equal((await api('GET', '', undefined, '')).status, 401);
    const user = await s.register({ tenant: tenant.slug });
    assert.equal((await api('GET', '', undefined, user.accessToken)).status, 403);
    const promoted = await s.request('PATCH', `/api/v1/admin/users/${user.id}`, { tenant: tenant.slug, token: adminToken, body: { roles: ['user', 'organizer'] } });
    assert.equal(promoted.status, 200, promoted.text);
    const organizer = await s.login(user.email, PASSWORD, { tenant: tenant.slug });
    for (const [m, p, b] of [
      ['GET', '', undefined],
      ['POST', '', { url: receiver.url, events: ['user.events.*'] }],
      ['GET', `/${hookId}`, undefined],
      ['PATCH', `/${hookId}`, { disabled: true }],
      ['DELETE', `/${hookId}`, undefined],
      ['GET', `/${hookId}/deliveries`, undefined],
      ['POST', `/${hookId}/test`, undefined],
    ] as const) {
      const r = await api(m, p, b, organizer.accessToken);
      assert.equal(r.status, 403, `${m} ${p} as organizer`);
    }
    const other = await s.createTenant({});
    const otherToken = other.admin!.accessToken;
    for (const [m, p, b] of [
      ['GET', `/${hookId}`, undefined],
      ['PATCH', `/${hookId}`, { disabled: true }],
      ['DELETE', `/${hookId}`, undefined],
      ['GET', `/${hookId}/deliveries`, undefined],
      ['POST', `/${hookId}/test`, undefined],
    ] as const) {
      const r = await api(m, p, b, otherToken, other.slug);
      assert.equal(r.status, 404, `${m} ${p} from another tenant`);
      assert.equal(r.body.code, 'webhook_not_found');
    }
    assert.deepEqual((await api('GET', '', undefined, otherToken, other.slug)).body.items, []);
    // still there, untouched
    assert.equal((await api('GET', `/${hookId}`)).body.disabled, false);
  });

  test('bad input is a problem with a stable code', async () => {
    const bad = [
      [{ url: 'ftp://example.com/x', events: ['user.events.*'] }, 'validation_failed'],
      [{ url: 'https://u:p@example.com/x', events: ['user.events.*'] }, 'validation_failed'],
      [{ url: 'not a url', events: ['user.events.*'] }, 'validation_failed'],
      [{ url: 'https://example.com/x', events: ['user.>.x'] }, 'validation_failed'],
      [{ url: 'https://example.com/x', events: [] }, 'validation_failed'],
      [{ url: 'https://example.com/x' }, 'validation_failed'],
    ] as const;
    for (const [body, code] of bad) {
      const r = await api('POST', '', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.code, code);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    }
    assert.equal((await api('GET', '/not-a-uuid')).status, 400);
    assert.equal((await api('GET', `/${hookId}/deliveries?cursor=garbage`)).body.code, 'validation_failed');
  });

  test('changes are audited', async () => {
    const entries = async (type: string) => {
      const r = await s.request('GET', `/api/v1/audit/events?type=${type}&format=ndjson`, { tenant: tenant.slug, token: adminToken });
      assert.equal(r.status, 200, r.text);
      return ndjson(r.text);
    };
    await eventually(async () => assert.ok((await entries('auth.events.webhook_created')).length >= 2), 30_000);
    await eventually(async () => assert.ok((await entries('auth.events.webhook_disabled')).length >= 1), 30_000);
    await eventually(async () => assert.ok((await entries('auth.events.webhook_deleted')).length >= 1), 30_000);
    // a credential in the query string of a URL stays out of events (and so out of the audit trail)
    const withQuery = await api('POST', '', { url: `${receiver.url}?token=s3cr3t-in-url`, events: ['social.events.none'] });
    assert.equal(withQuery.status, 201);
    assert.equal(withQuery.body.url, `${receiver.url}?token=s3cr3t-in-url`, 'the admin API shows the whole URL');
    await eventually(async () => {
      const created = await entries('auth.events.webhook_created');
      const entry = created.find((e) => e.data?.webhookId === withQuery.body.id);
      assert.ok(entry);
      assert.equal(entry.data.url, `${receiver.url}?…`);
      assert.ok(!JSON.stringify(created).includes('s3cr3t-in-url'));
    }, 30_000);
    assert.equal((await api('DELETE', `/${withQuery.body.id}`)).status, 204);
  });

  test('an endpoint does not receive events from before it was created (a consumer catching up)', async () => {
    const delivery = s.services.auth.deps.webhookDelivery;
    const event = (time: Date) => ({
      specversion: '1.0' as const,
      id: randomUUID(),
      source: '/test',
      type: 'user.events.updated',
      time: time.toISOString(),
      tenantid: tenant.id,
      datacontenttype: 'application/json' as const,
      data: { id: randomUUID() },
    });
    assert.equal(await delivery.route(event(new Date(Date.now() - 3600_000))), 0, 'an hour before the endpoint: not routed');
    const recent = event(new Date());
    assert.equal(await delivery.route(recent), 1);
    assert.equal(await delivery.route(recent), 0, 'the same event again adds nothing');
    await eventually(() => assert.ok(receiver.receipts.some((r) => r.id === recent.id && r.verified)), 30_000);
  });

  test('purge: finished deliveries go with their attempts after their retention; pending ones stay', async () => {
    const db = s.databases.auth;
    const pendingId = await db.withTenant(tenant.id, async (trx) => {
      const [id] = await insertDeliveries(trx, [{ id: randomUUID(), tenant_id: tenant.id, endpoint_id: hookId, event_id: randomUUID(), event_type: 'webhook.test', payload: '{}' }]);
      // never due, so the worker leaves it alone
      await trx.updateTable('webhook_queue').set({ due_at: new Date(Date.now() + 3600_000) }).where('delivery_id', '=', id!).execute();
      return id!;
    });
    const count = (table: 'webhook_deliveries' | 'webhook_attempts') =>
      db.withTenant(tenant.id, async (trx) => Number((await trx.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n));
    assert.ok((await count('webhook_attempts')) > 0);
    const tasks = authPurgeTasks(db, { ...s.config.purge, webhookDeliveriesSec: 0 }).filter((t) => t.name.startsWith('auth.webhook_'));
    assert.deepEqual(tasks.map((t) => t.name), ['auth.webhook_attempts', 'auth.webhook_deliveries']);
    for (const t of tasks) assert.ok((await t.run(7, () => false)) > 0, t.name);
    // what is left is pending (ours, and any event of the tenant still on its way), nothing finished
    const left = await db.withTenant(tenant.id, (trx) => trx.selectFrom('webhook_deliveries').select(['id', 'status']).execute());
    assert.ok(left.some((d) => d.id === pendingId));
    assert.deepEqual(left.filter((d) => d.status !== 'pending'), []);
  });
});
