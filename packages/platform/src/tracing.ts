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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogEvent } from 'kysely';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

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

let serverSpans = false;

/** Called by `./tracing-sdk` once the SDK runs: HTTP apps created afterwards trace their requests. */
export function enableServerSpans(): void {
  serverSpans = true;
}

/** Whether HTTP apps should wrap their request listener in {@link tracedRequestListener} (tracing on). */
export function serverSpansEnabled(): boolean {
  return serverSpans;
}

/** Probes make no span: a trace a second per prober would say nothing. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `handler` (a Fastify app's request listener) run in a SERVER span per request, continuing
 * the request's `traceparent`. Hand-written instead of @opentelemetry/instrumentation-http's
 * incoming side, the largest single instrumentation in a CPU profile of a proxied GET with
 * tracing on (it gathers a dozen attributes per request and patches every server's `emit`):
 * this span carries the stable-convention attributes a trace view needs (method, path, scheme,
 * route through {@link nameServerSpan}, status) and nothing else. The request and response
 * emitters are bound to the span's context so that Fastify, which resumes a request from their
 * events (the body's `end`, the response's `finish`), runs every hook and handler inside it.
 */
export function tracedRequestListener(handler: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (UNTRACED_PATHS.has(path)) return handler(req, res);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method ?? 'GET';
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http' } }, parent);
    const ctx = trace.setSpan(parent, span);
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.bind(ctx, req);
    context.bind(ctx, res);
    context.with(ctx, handler, undefined, req, res);
  };
}

/** A CLIENT span of an outgoing HTTP request: its context's headers to send, and its end. */
export interface HttpClientSpan {
  /** `traceparent` (and `tracestate`) naming this span, for the outgoing request's headers */
  headers: Record<string, string>;
  /** ends the span with the response's status (none: the request failed) */
  end(status?: number): void;
}

/**
 * A CLIENT span for the gateway's forwarding of a request to a service, or undefined outside a
 * trace. Hand-written for the same reason as {@link tracedRequestListener}: in a CPU profile of
 * a proxied GET, @opentelemetry/instrumentation-undici's span was among what tracing still cost
 * (it parses the URL and the headers of every request into a dozen attributes); this one sets
 * two. Its saving is not measured yet (docs/operations.md). The request carries
 * this span's `traceparent`, which also tells the undici instrumentation to leave it alone
 * ({@link carriesTraceparent}); other outgoing calls are still traced by it.
 */
export function httpClientSpan(method: string, url: string): HttpClientSpan | undefined {
  const active = context.active();
  if (!trace.getSpan(active)?.isRecording()) return undefined;
  const span = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': url } }, active);
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(active, span), headers);
  let ended = false; // reply-from can report a bad status as an error and still answer
  return {
    headers,
    end(status) {
      if (ended) return;
      ended = true;
      if (status === undefined || status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      span.end();
    },
  };
}

/**
 * For @opentelemetry/instrumentation-undici's `ignoreRequestHook`: an undici request (its
 * `headers` a flat name/value array or a raw header block) that already carries a
 * `traceparent` was traced by its caller ({@link httpClientSpan}) and needs no second span.
 */
export function carriesTraceparent(request: { headers?: unknown }): boolean {
  const h = request.headers;
  if (Array.isArray(h)) {
    for (let i = 0; i < h.length; i += 2) if (String(h[i]).toLowerCase() === 'traceparent') return true;
    return false;
  }
  return typeof h === 'string' && /(^|\r\n)traceparent:/i.test(h);
}

/** Statements that only open or close a transaction: no span (the unit of work's parent span covers them). */
const TRANSACTION_CONTROL = new Set(['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'START', 'END']);

/**
 * Kysely's `log` option that records each query made inside a trace as a CLIENT span
 * `pg.query:<OPERATION>` (db.system.name postgresql, db.namespace, db.query.text: the SQL with
 * its $n placeholders, never the values), or undefined when tracing is off, so that Kysely
 * does no logging work at all. The span is made after the fact from Kysely's own timing:
 * cheaper than @opentelemetry/instrumentation-pg, which wrapped every pool checkout and query
 * (transaction control included) in context work and a span, and it covers PGlite as well.
 */
export function querySpanLogger(namespace: string): ((event: LogEvent) => void) | undefined {
  if (!serverSpans) return undefined;
  return (event) => {
    const active = context.active();
    if (!trace.getSpan(active)) return; // only inside a trace: the relay's idle polling makes none
    const text = event.query.sql;
    const op = (/^\s*([A-Za-z]+)/.exec(text)?.[1] ?? 'QUERY').toUpperCase();
    if (TRANSACTION_CONTROL.has(op)) return;
    const end = performance.now();
    const span = tracer.startSpan(
      `pg.query:${op}`,
      { kind: SpanKind.CLIENT, startTime: end - event.queryDurationMillis, attributes: { 'db.system.name': 'postgresql', 'db.namespace': namespace, 'db.operation.name': op, 'db.query.text': text } },
      active,
    );
    if (event.level === 'error') failed(span, event.error);
    span.end(end);
  };
}
