import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry, metricValue } from '../metrics';
import { makeEvent } from './envelope';
import { consumerLabel, instrumentTransport } from './instrument';
import type { EventTransport, InvalidMessage } from './transport';

type SubscribeOpts = Parameters<EventTransport['subscribe']>[0];

/** A transport that hands its subscriber's callbacks to the test, to deliver by hand. */
function handTransport() {
  const subs: SubscribeOpts[] = [];
  const published: unknown[] = [];
  const t: EventTransport = {
    kind: 'memory',
    async publish(e) {
      published.push(e);
    },
    async subscribe(opts) {
      subs.push(opts);
      return { stop: async () => {}, pending: async () => 0 };
    },
    ping: async () => {},
    close: async () => {},
  };
  return { t, subs, published };
}

const event = (minutesAgo = 0) =>
  makeEvent({ source: '/test', type: 'user.events.created', tenantId: 't1', data: {}, time: new Date(Date.now() - minutesAgo * 60_000) });

describe('instrumentTransport', () => {
  test('consumer label: a per-process random suffix is cut off, so the label stays bounded', () => {
    assert.equal(consumerLabel('gateway-tenants-0123456789abcdef'), 'gateway-tenants');
    assert.equal(consumerLabel('audit-ingest'), 'audit-ingest');
  });

  test('handled events count by result, and the lag is the last event time to handling', async () => {
    const registry = createMetricsRegistry();
    const { t, subs } = handTransport();
    const sub = await instrumentTransport(t, registry).subscribe({
      durable: 'audit-ingest',
      subjects: ['>'],
      handler: async (e) => {
        if (e.subject === 'boom') throw new Error('handler failed');
      },
    });
    assert.equal(await metricValue(registry, 'gatehouse_consumer_lag_seconds', { consumer: 'audit-ingest' }), 0);
    await subs[0]!.handler(event(2));
    assert.equal(await metricValue(registry, 'gatehouse_consumer_events_total', { consumer: 'audit-ingest', result: 'ok' }), 1);
    const lag = (await metricValue(registry, 'gatehouse_consumer_lag_seconds', { consumer: 'audit-ingest' })) ?? 0;
    assert.ok(lag >= 119 && lag < 180, `lag ${lag}`);
    await assert.rejects(subs[0]!.handler({ ...event(), subject: 'boom' }));
    assert.equal(await metricValue(registry, 'gatehouse_consumer_events_total', { consumer: 'audit-ingest', result: 'error' }), 1);
    await sub.stop();
    assert.equal(await metricValue(registry, 'gatehouse_consumer_lag_seconds', { consumer: 'audit-ingest' }), undefined, 'a stopped consumer reports no lag');
  });

  test('a message that is not a CloudEvent counts as a dead letter of its consumer, after its own onInvalid', async () => {
    const registry = createMetricsRegistry();
    const { t, subs } = handTransport();
    const parked: InvalidMessage[] = [];
    await instrumentTransport(t, registry).subscribe({ durable: 'audit-ingest', subjects: ['>'], handler: async () => {}, onInvalid: async (m) => void parked.push(m) });
    await instrumentTransport(t, registry).subscribe({ durable: 'users-replica', subjects: ['>'], handler: async () => {} });
    assert.equal(await metricValue(registry, 'gatehouse_consumer_dead_letters_total', { consumer: 'audit-ingest' }), 0);
    const message = { subject: 'user.events.created', data: 'not json', reason: 'not JSON' };
    await subs[0]!.onInvalid!(message);
    await subs[1]!.onInvalid!(message);
    assert.deepEqual(parked, [message]);
    assert.equal(await metricValue(registry, 'gatehouse_consumer_dead_letters_total', { consumer: 'audit-ingest' }), 1);
    assert.equal(await metricValue(registry, 'gatehouse_consumer_dead_letters_total', { consumer: 'users-replica' }), 1, 'dropped without a parking place: still a dead letter');
  });

  test('publishes count by result', async () => {
    const registry = createMetricsRegistry();
    const { t, published } = handTransport();
    const wrapped = instrumentTransport({ ...t, publish: async (e) => (e.subject === 'fail' ? Promise.reject(new Error('down')) : t.publish(e)) }, registry);
    await wrapped.publish(event());
    await assert.rejects(wrapped.publish({ ...event(), subject: 'fail' }));
    assert.equal(published.length, 1);
    assert.equal(await metricValue(registry, 'gatehouse_events_published_total', { result: 'ok' }), 1);
    assert.equal(await metricValue(registry, 'gatehouse_events_published_total', { result: 'error' }), 1);
  });
});
