/**
 * Metrics (and, with tracing on, spans) around an event transport, so every consumer of
 * every service reports the same figures without code of its own: events handled by result,
 * lag (event time to handled), and dead letters (messages that are not CloudEvents, parked by
 * the consumer's `onInvalid` or dropped).
 */
import type client from 'prom-client';
import { counter, histogram, observedGauge } from '../metrics';
import { consumeSpan, publishSpan } from '../tracing';
import type { EventTransport } from './transport';

/**
 * The `consumer` label of a durable name: per-process durables end in a random hex suffix
 * (`gateway-tenants-<16 hex>`), which would make the label unbounded; it is cut off.
 */
export function consumerLabel(durable: string): string {
  return durable.replace(/-[0-9a-f]{8,}$/, '');
}

/** An idle consumer (nothing handled for this long) is caught up: its lag reads 0. */
const IDLE_MS = 60_000;

/** Wraps `transport` so publishes and subscriptions are measured on `registry`. */
export function instrumentTransport(transport: EventTransport, registry: client.Registry): EventTransport {
  const handled = counter(registry, 'gatehouse_consumer_events_total', 'Events handled by each consumer, by result (ok, error: redelivered later)', ['consumer', 'result']);
  const deadLetters = counter(registry, 'gatehouse_consumer_dead_letters_total', 'Messages a consumer could not read as CloudEvents (parked in a dead-letter table or dropped)', [
    'consumer',
  ]);
  const handleSeconds = histogram(registry, 'gatehouse_consumer_handle_duration_seconds', 'Time a consumer spent handling one event', ['consumer'], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]);
  const lag = observedGauge(registry, 'gatehouse_consumer_lag_seconds', 'Event time to handling of the last event each consumer handled; 0 when idle for a minute', ['consumer']);
  const published = counter(registry, 'gatehouse_events_published_total', 'Events published to the event transport, by result', ['result']);

  return {
    get kind() {
      return transport.kind;
    },
    async publish(event) {
      try {
        await publishSpan(event, (e) => transport.publish(e));
        published.inc({ result: 'ok' });
      } catch (err) {
        published.inc({ result: 'error' });
        throw err;
      }
    },
    async subscribe(opts) {
      const consumer = consumerLabel(opts.durable);
      let lastLagSec = 0;
      let lastAt = 0;
      const removeLag = lag.source({ consumer }, () => (Date.now() - lastAt > IDLE_MS ? 0 : lastLagSec));
      handled.inc({ consumer, result: 'ok' }, 0);
      deadLetters.inc({ consumer }, 0);
      const sub = await transport.subscribe({
        ...opts,
        handler: async (event) => {
          const end = handleSeconds.startTimer({ consumer });
          try {
            await consumeSpan(event, consumer, () => opts.handler(event));
            handled.inc({ consumer, result: 'ok' });
            lastAt = Date.now();
            const t = Date.parse(event.time);
            lastLagSec = Number.isFinite(t) ? Math.max(0, (lastAt - t) / 1000) : 0;
          } catch (err) {
            handled.inc({ consumer, result: 'error' });
            throw err;
          } finally {
            end();
          }
        },
        onInvalid: async (message) => {
          await opts.onInvalid?.(message);
          deadLetters.inc({ consumer });
        },
      });
      return {
        pending: () => sub.pending(),
        async stop() {
          removeLag();
          await sub.stop();
        },
      };
    },
    ping: () => transport.ping(),
    close: () => transport.close(),
  };
}
