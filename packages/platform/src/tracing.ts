/**
 * Trace helpers over the OpenTelemetry API. Without a registered SDK (tracing off: no
 * OTEL_EXPORTER_OTLP_ENDPOINT) every call here is the API's no-op, so the cost is a function
 * call; `./tracing-sdk` starts the SDK when tracing is configured.
 *
 * Events carry the W3C `traceparent` of the code that created them as a CloudEvents extension
 * attribute (the distributed-tracing extension), so the outbox relay's publish span and each
 * consumer's span continue the request's trace even though they run later, in another loop
 * or another process.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

const tracer = trace.getTracer('gatehouse');

/** Runs `fn` as the body of `span`: a failure is recorded on it, and it ends either way. */
async function endSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Runs `fn` in a span named `name` (argon2 hashing, token signing...), ending it and recording a failure. */
export async function withSpan<T>(name: string, attributes: Record<string, string | number | boolean>, fn: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, (span) => endSpan(span, fn));
}

function failed(span: Span, err: unknown) {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** The current trace's W3C `traceparent`, or undefined when nothing is being traced. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** `{trace_id, span_id}` of the active span for log lines (pino mixin); empty when none. */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const c = span.spanContext();
  return trace.isSpanContextValid(c) ? { trace_id: c.traceId, span_id: c.spanId } : {};
}

interface Traced {
  type: string;
  id: string;
  traceparent?: string;
}

function eventContext(event: Traced) {
  return event.traceparent ? propagation.extract(context.active(), { traceparent: event.traceparent }) : context.active();
}

/**
 * Publishes `event` in a PRODUCER span that continues the event's own trace; the event goes
 * out carrying that span as its traceparent, so consumers are children of the publish.
 */
export async function publishSpan<E extends Traced>(event: E, publish: (event: E) => Promise<void>): Promise<void> {
  if (!event.traceparent) return publish(event);
  return tracer.startActiveSpan(
    `publish ${event.type}`,
    { kind: SpanKind.PRODUCER, attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': event.type, 'messaging.message.id': event.id } },
    eventContext(event),
    (span) => endSpan(span, () => publish({ ...event, traceparent: currentTraceparent() ?? event.traceparent })),
  );
}

/** Runs a consumer's handler in a CONSUMER span, child of the event's traceparent. */
export async function consumeSpan<T>(event: Traced, consumer: string, fn: () => Promise<T>): Promise<T> {
  if (!event.traceparent) return fn();
  return tracer.startActiveSpan(
    `process ${event.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: { 'messaging.operation.type': 'process', 'messaging.destination.name': event.type, 'messaging.consumer.group.name': consumer, 'messaging.message.id': event.id },
    },
    eventContext(event),
    (span) => endSpan(span, fn),
  );
}

/** Names the active HTTP server span after the matched route (`POST /api/v1/auth/login`), so traces group by route, not by URL. */
export function nameServerSpan(method: string, route: string): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}
