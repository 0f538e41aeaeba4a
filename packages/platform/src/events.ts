/**
 * CloudEvents over NATS JetStream, with a transactional outbox and an idempotent inbox.
 * The code lives in `./events/`, by feature:
 *
 * - `envelope`: the CloudEvent type, `makeEvent`, `isCloudEvent`, the stream's subjects and
 *   NATS subject matching;
 * - `transport`: the `EventTransport` interface both transports implement;
 * - `nats`: the JetStream transport (production);
 * - `memory`: the in-process transport (embedded mode);
 * - `outbox`: `enqueueEvents`, the outbox relay and `consumeOnce`.
 *
 * This file is the public entry point (`@gatehouse/platform/events`); it re-exports only the
 * public API, so the modules' shared internals stay internal.
 */
export { EVENT_SUBJECTS, isCloudEvent, makeEvent, subjectMatches, type CloudEvent } from './events/envelope';
export type { EventTransport, InvalidMessage, Subscription } from './events/transport';
export type { NatsTransportOptions } from './events/nats';
import type { EventTransport } from './events/transport';
import type { NatsTransportOptions } from './events/nats';

/** The NATS JetStream transport (events/nats.ts), whose client is loaded only when NATS_URL is set. */
export async function createNatsTransport(opts: NatsTransportOptions): Promise<EventTransport> {
  return (await import('./events/nats')).createNatsTransport(opts);
}
export { createMemoryTransport } from './events/memory';
export { consumeOnce, createOutboxRelay, enqueueEvents, type OutboxRelayOptions } from './events/outbox';
