// The behaviour is tested next to each module, in ./events/*.test.ts. This file checks that
// the entry point still offers the whole public API, and nothing more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fromPackage from '@gatehouse/platform/events';
import * as events from './events';
import * as envelope from './events/envelope';
import * as memory from './events/memory';
import * as nats from './events/nats';
import * as outbox from './events/outbox';

// The public types must stay importable from the entry point (checked by tsc).
export type PublicTypes = [events.CloudEvent, events.EventTransport, events.NatsTransportOptions, events.OutboxRelayOptions];

test('the entry point re-exports the public API of the events modules, and only it', () => {
  assert.deepEqual(Object.keys(events).sort(), [
    'EVENT_SUBJECTS',
    'consumeOnce',
    'createMemoryTransport',
    'createNatsTransport',
    'createOutboxRelay',
    'enqueueEvents',
    'isCloudEvent',
    'makeEvent',
    'subjectMatches',
  ]);
  assert.equal(events.EVENT_SUBJECTS, envelope.EVENT_SUBJECTS);
  assert.equal(events.makeEvent, envelope.makeEvent);
  assert.equal(events.isCloudEvent, envelope.isCloudEvent);
  assert.equal(events.subjectMatches, envelope.subjectMatches);
  // a wrapper that imports ./events/nats (and the NATS client) on its first call, so a process
  // without NATS_URL never loads them; its behaviour is tested through it in the service tests
  assert.notEqual(events.createNatsTransport, nats.createNatsTransport);
  assert.equal(events.createNatsTransport.length, nats.createNatsTransport.length);
  assert.equal(events.createMemoryTransport, memory.createMemoryTransport);
  assert.equal(events.enqueueEvents, outbox.enqueueEvents);
  assert.equal(events.createOutboxRelay, outbox.createOutboxRelay);
  assert.equal(events.consumeOnce, outbox.consumeOnce);
});

test('@gatehouse/platform/events is the same module', () => {
  assert.equal(fromPackage.makeEvent, events.makeEvent);
  assert.equal(fromPackage.createOutboxRelay, events.createOutboxRelay);
});
