/**
 * Readiness of the audit consumer after a crash: the events a killed process left in its
 * outbox (or held unacknowledged) reach the audit log late, and old. Ingesting them is not
 * being behind: once nothing waits for the consumer, the service is ready, whatever the age
 * of the last event it ingested. (It used to answer 503 for the minute after such an event,
 * the idle window of the lag: a restart after a kill -9 took a minute to become ready.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { EventTransport } from '@gatehouse/platform/events';
import { countEntries, createAuditTestDatabase, createTestShared, createTestTokens, createTestTransport, eventually, startAudit, testEvent } from '../../testing';

describe('audit readiness and the consumer lag', () => {
  let t: Awaited<ReturnType<typeof createAuditTestDatabase>>;
  const tokens = createTestTokens();

  before(async () => {
    t = await createAuditTestDatabase();
  });
  after(async () => {
    await t.drop();
  });

  test('an old event ingested with nothing waiting leaves it ready; events waiting behind old ones make it 503', async () => {
    const tt = await createTestTransport();
    // What the consumer's subscription reports as waiting; `undefined`: the transport's own answer.
    let waitingOverride: number | undefined;
    const transport: EventTransport = {
      ...tt.transport,
      publish: (e) => tt.transport.publish(e),
      ping: () => tt.transport.ping(),
      close: () => tt.transport.close(),
      async subscribe(opts) {
        const sub = await tt.transport.subscribe(opts);
        return { stop: () => sub.stop(), pending: async () => waitingOverride ?? (await sub.pending()) };
      },
    };
    const shared = await createTestShared(transport);
    const audit = await startAudit(t.db, shared, { jwks: (await tokens).jwks, maxReadyLagSec: 300 });
    const ready = () => audit.app.inject({ method: 'GET', url: '/readyz' });
    try {
      assert.equal((await ready()).statusCode, 200);
      const tenant = randomUUID();
      // committed ten minutes ago by a process that was killed before its relay published it
      const late = testEvent(tenant, 'user.events.created', { id: randomUUID(), email: 'late@example.test' }, { time: new Date(Date.now() - 10 * 60_000) });
      await transport.publish(late);
      await eventually(async () => assert.equal(await countEntries(t.db, tenant, { eventId: late.id }), 1));
      // the lag metric says what it measures: that event's age at ingestion
      assert.ok(audit.deps.metrics.currentLagSec() > 300, `lag ${audit.deps.metrics.currentLagSec()}`);
      await eventually(async () => assert.equal(await audit.deps.consumer.pending(), 0));
      const body = (await ready()).json<{ checks: Record<string, string> }>();
      assert.deepEqual(body.checks, { database: 'ok', transport: 'ok', consumer: 'ok' });

      // the same old event with events waiting behind it: behind for real
      waitingOverride = 7;
      const behind = await ready();
      assert.equal(behind.statusCode, 503);
      assert.match(behind.json<{ checks: Record<string, string> }>().checks.consumer ?? '', /^consumer is \d+ s behind, 7 events waiting$/);
      waitingOverride = undefined;
      assert.equal((await ready()).statusCode, 200);
    } finally {
      await audit.close();
      await shared.close();
      await tt.cleanup();
    }
  });
});
