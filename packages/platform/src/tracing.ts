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
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span } from '@opentelemetry/api';

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

/**
 * Runs `fn` in a span named `name` (argon2 hashing, token signing...), ending it and recording a
 * failure; only inside a recorded trace, as queries and Redis commands: outside one (the
 * start-up's dummy hash, a request its sampler dropped) a span would be a trace of its own.
 */
export async function withSpan<T>(name: string, attributes: Record<string, string | number | boolean>, fn: () => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()?.isRecording()) return fn();
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

/**
 * Whether a W3C traceparent (`00-<trace id>-<span id>-<flags>`) says its trace is recorded
 * (the flags' sampled bit). A trace its head sampler dropped (a ratio sampler, a client's
 * `-00`) makes no span anywhere downstream: an event carrying it is published and consumed
 * as one without a trace, so an unsampled request's fan-out costs what it costs with tracing off.
 */
export function sampledTraceparent(traceparent: string): boolean {
  return traceparent.length >= 55 && (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1;
}

function eventContext(event: Traced) {
  return event.traceparent ? propagation.extract(context.active(), { traceparent: event.traceparent }) : context.active();
}

/**
 * Publishes `event` in a PRODUCER span that continues the event's own trace; the event goes
 * out carrying that span as its traceparent, so consumers are children of the publish.
 */
export async function publishSpan<E extends Traced>(event: E, publish: (event: E) => Promise<void>): Promise<void> {
  // unsampled: sent as it is, its traceparent still carrying the decision to the consumers
  if (!event.traceparent || !sampledTraceparent(event.traceparent)) return publish(event);
  return tracer.startActiveSpan(
    `publish ${event.type}`,
    { kind: SpanKind.PRODUCER, attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': event.type, 'messaging.message.id': event.id } },
    eventContext(event),
    (span) => endSpan(span, () => publish({ ...event, traceparent: currentTraceparent() ?? event.traceparent })),
  );
}

/** Runs a consumer's handler in a CONSUMER span, child of the event's traceparent. */
export async function consumeSpan<T>(event: Traced, consumer: string, fn: () => Promise<T>): Promise<T> {
  if (!event.traceparent || !sampledTraceparent(event.traceparent)) return fn();
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

/**
 * The SDK's head sampler and ids, as `./tracing-sdk` configured them: a request's sampling
 * decision is taken here, before any span is started ({@link tracedRequestListener}).
 */
export interface HeadSampling {
  /** Whether a SERVER span `name` with this parent context and trace id would be recorded (the SDK's sampler). */
  records(parent: Context, traceId: string, name: string, attributes: Record<string, string>): boolean;
  newTraceId(): string;
  newSpanId(): string;
}
let head: HeadSampling | undefined;
/** The trace id the SDK's next root span takes (the one the sampler was asked about). */
let primedTraceId: string | undefined;

/** For the SDK's id generator: the primed trace id once, else undefined (then it makes one). */
export function takePrimedTraceId(): string | undefined {
  const id = primedTraceId;
  primedTraceId = undefined;
  return id;
}

/** Called by `./tracing-sdk` once the SDK runs: HTTP apps created afterwards trace their requests. */
export function enableServerSpans(sampling?: HeadSampling): void {
  serverSpans = true;
  head = sampling;
}

/** Whether HTTP apps should wrap their request listener in {@link tracedRequestListener} (tracing on). */
export function serverSpansEnabled(): boolean {
  return serverSpans;
}

/** Probes make no span: a trace a second per prober would say nothing. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Where {@link tracedRequestListener} leaves a request's context on its request and response objects, and its span on the response. */
const REQUEST_CONTEXT = Symbol('gatehouse.traceContext');
const REQUEST_SPAN = Symbol('gatehouse.serverSpan');
/** On the request of every traced request, recorded or not: the context its forwarding propagates ({@link forwardingHeaders}). */
const REQUEST_TRACE = Symbol('gatehouse.trace');
type Tagged = { [REQUEST_CONTEXT]?: Context; [REQUEST_SPAN]?: Span; [REQUEST_TRACE]?: Context };

/**
 * The trace context an event of a traced request's emitter must run in, or undefined when it
 * needs none: the emitter is not a traced request's, or nothing listens to the event. The `emit`
 * override of the HTTP server's request and response classes (traced-server.ts) runs the event
 * in this context. Fastify resumes a request from events (the body's `end`, the response's
 * `finish`) that Node emits from the socket's context, not the request's; re-entering the
 * context for those is what keeps its hooks and handlers (and their log lines' trace ids) in the
 * request's trace. Most of a request's events have no listener (`socket`, `readable`,
 * `prefinish`, `resume`, `close`: 5 or 6 of its 8 or 9 emits on a GET), and those skip the
 * context switch. It replaces `context.bind` on the two emitters, which patched eight methods
 * of each per request and wrapped every listener added in a bound function (with
 * `Object.defineProperty`): the costliest piece of tracing in a CPU profile of a proxied GET
 * (bench/results/2026-12-07-servers-tracing-run2.md).
 */
export function requestEventContext(emitter: { listenerCount(event: string | symbol): number }, event: string | symbol): Context | undefined {
  const ctx = (emitter as Tagged)[REQUEST_CONTEXT];
  return ctx === undefined || emitter.listenerCount(event) === 0 ? undefined : ctx;
}

/**
 * Ends a traced request's SERVER span, with the response's status (the `close` of the server's
 * response class, traced-server.ts: a `close` listener per request would cost a closure and a
 * `once` wrapper). A response that closed before it finished (the client went away) is an error.
 */
export function endServerSpan(res: ServerResponse): void {
  const span = (res as Tagged)[REQUEST_SPAN];
  if (span === undefined) return;
  (res as Tagged)[REQUEST_SPAN] = undefined;
  span.setAttribute('http.response.status_code', res.statusCode);
  if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/**
 * `handler` (a Fastify app's request listener) run in a SERVER span per request, continuing
 * the request's `traceparent`. Hand-written instead of @opentelemetry/instrumentation-http's
 * incoming side, the largest single instrumentation in a CPU profile of a proxied GET with
 * tracing on (it gathers a dozen attributes per request and patches every server's `emit`):
 * this span carries the stable-convention attributes a trace view needs (method, path, scheme,
 * route through {@link nameServerSpan}, status) and nothing else. The span's context is left
 * on the request and response objects, whose events re-enter it ({@link requestEventContext}),
 * and the span on the response, whose `close` ends it ({@link endServerSpan}): the server must
 * be made with traced-server.ts's classes.
 *
 * A request the sampler does not record (OTEL_TRACES_SAMPLER=parentbased_traceidratio, or a
 * client's `traceparent` flagged not sampled) runs as with tracing off: no context is entered,
 * its events are not re-entered, and its queries, Redis commands and events make no spans (they
 * find no span in the context). Only the decision travels on: the gateway forwards the request
 * with a `traceparent` flagged not sampled ({@link forwardingHeaders}), so the service's
 * parent-based sampler drops it too. Before, such a request carried a non-recording span
 * through all of that work (query, Redis and undici spans, context re-entry, spans of its
 * events, argon2 and signing spans that became roots of their own). The CPU this saves was not
 * told apart from the noise of this machine: what a dropped request still costs is mostly the
 * SDK being loaded at all (bench/results/2026-12-07-servers-run2.md, reading). Its log lines
 * carry no trace ids (there is no trace to find them by).
 */
export function tracedRequestListener(handler: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (UNTRACED_PATHS.has(path)) return handler(req, res);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method ?? 'GET';
    const attributes = { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http' };
    if (head) {
      // The sampler's decision first, on the trace id the span would have: a dropped request
      // starts no span at all (the SDK's span start, its attribute checks and its own metrics
      // cost about as much as the rest of tracing a dropped request) and only carries a
      // not-sampled traceparent on. A recorded root span takes that same trace id (primed for
      // the SDK's id generator), so the sampler answers the same when the SDK asks it again.
      const parentSpan = trace.getSpanContext(parent);
      const traceId = parentSpan?.traceId ?? head.newTraceId();
      if (!head.records(parent, traceId, method, attributes)) {
        const dropped = { traceId, spanId: head.newSpanId(), traceFlags: TraceFlags.NONE, ...(parentSpan?.traceState ? { traceState: parentSpan.traceState } : {}) };
        (req as Tagged)[REQUEST_TRACE] = trace.setSpan(parent, trace.wrapSpanContext(dropped));
        return handler(req, res);
      }
      if (!parentSpan) primedTraceId = traceId;
    }
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
    primedTraceId = undefined;
    const ctx = trace.setSpan(parent, span);
    (req as Tagged)[REQUEST_TRACE] = ctx;
    if (!span.isRecording()) return handler(req, res);
    (req as Tagged)[REQUEST_CONTEXT] = ctx;
    (res as Tagged)[REQUEST_CONTEXT] = ctx;
    (res as Tagged)[REQUEST_SPAN] = span;
    context.with(ctx, handler, undefined, req, res);
  };
}

/**
 * The headers that carry a traced request's context (`traceparent`, and `tracestate` if any) to
 * the service the gateway forwards it to, or undefined when the request is not traced (tracing
 * off, a probe). A request the sampler did not record is forwarded with its `traceparent`
 * flagged not sampled, so the service drops it too ({@link tracedRequestListener}). The
 * gateway's forwarding makes no CLIENT span of its own: the gateway's only work on a forwarded
 * request is the forwarding, so its SERVER span already spans it (from the client's request to
 * the service's answer) and the service's SERVER span is its direct child; a CLIENT span in
 * between told nothing the two do not (its start, its end and its status are theirs), and it
 * was a quarter of the spans of an authenticated GET. The request carries a `traceparent`,
 * which tells the undici instrumentation to leave it alone ({@link carriesTraceparent}).
 */
export function forwardingHeaders(req: IncomingMessage): Record<string, string> | undefined {
  const ctx = (req as Tagged)[REQUEST_TRACE];
  if (ctx === undefined) return undefined;
  const headers: Record<string, string> = {};
  propagation.inject(ctx, headers);
  return headers;
}

/**
 * Runs `fn` outside the active span (same context otherwise): Redis commands and queries it
 * makes get no span of their own, their instrumentation needing a parent. For work done on
 * every request whose span would say nothing a trace needs: the gateway's rate-limit counters
 * (an EVALSHA per limit per request, two on an authenticated GET; a refusal shows as the 429
 * of the request's own span).
 */
export function withoutSpans<T>(fn: () => T): T {
  const active = context.active();
  return trace.getSpan(active) ? context.with(trace.deleteSpan(active), fn) : fn();
}

/**
 * For @opentelemetry/instrumentation-undici's `ignoreRequestHook`: an undici request (its
 * `headers` a flat name/value array or a raw header block) that already carries a
 * `traceparent` is part of a trace its caller made (the gateway's forwarding, {@link forwardingHeaders}) and needs no span.
 */
export function carriesTraceparent(request: { headers?: unknown }): boolean {
  const h = request.headers;
  if (Array.isArray(h)) {
    // names of 11 characters only are lowercased: this runs for every request the gateway forwards
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i];
      if (name === 'traceparent' || (typeof name === 'string' && name.length === 11 && name.toLowerCase() === 'traceparent')) return true;
      if (Buffer.isBuffer(name) && name.length === 11 && name.toString('latin1').toLowerCase() === 'traceparent') return true;
    }
    return false;
  }
  return typeof h === 'string' && /(^|\r\n)traceparent:/i.test(h);
}

/** Statements that only open or close a transaction: no span (the unit of work's parent span covers them). */
const TRANSACTION_CONTROL = new Set(['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'START', 'END']);

/** A statement's first keyword, past a leading comment (a withTenant open held for its first statement, db.pool.ts). */
function operation(text: string): string {
  return (/^\s*(?:\/\*.*?\*\/\s*)?([A-Za-z]+)/s.exec(text)?.[1] ?? 'QUERY').toUpperCase();
}

/**
 * Where a query's span goes and its operation, or undefined when it gets none: outside a
 * recorded trace (the relay's idle polling, a request its sampler dropped, a consumer of an
 * unsampled event) and for transaction control. What both query paths below ask first.
 */
function querySpanTarget(text: string): { parent: Context; op: string } | undefined {
  const parent = context.active();
  if (!trace.getSpan(parent)?.isRecording()) return undefined;
  const op = operation(text);
  return TRANSACTION_CONTROL.has(op) ? undefined : { parent, op };
}

/** The CLIENT span of one query, from `start` to `end` (performance.now() milliseconds), under `parent`. */
function recordQuery(parent: Context, namespace: string, text: string, op: string, start: number, end: number, error?: unknown): void {
  const span = tracer.startSpan(
    `pg.query:${op}`,
    { kind: SpanKind.CLIENT, startTime: start, attributes: { 'db.system.name': 'postgresql', 'db.namespace': namespace, 'db.operation.name': op, 'db.query.text': text } },
    parent,
  );
  if (error !== undefined) failed(span, error);
  span.end(end);
}

/**
 * For the PostgreSQL pools (db.pool.ts, `lastResultPool`'s `traceQueries`): runs one query and,
 * when it is made inside a recorded trace, records it as a CLIENT span `pg.query:<OPERATION>`
 * (db.system.name postgresql, db.namespace, db.query.text: the SQL with its $n placeholders,
 * never the values); undefined when tracing is off. Outside a recorded trace (the relay's idle
 * polling, a request its sampler dropped, a consumer of an unsampled event) the query runs as
 * it is, at the cost of one context lookup: Kysely's `log` hook, used before, timed and wrapped
 * every query in two more awaits whether or not a span would come of it (~7 µs of the main
 * thread per authenticated GET with every request dropped, in CPU profiles of the all-in-one
 * process: its wrapper and two `performance.now()` per query).
 * Cheaper than @opentelemetry/instrumentation-pg, which wrapped every pool checkout and query
 * (transaction control included) in context work and a span.
 */
export function queryTracer(namespace: string): (<T>(text: string, run: () => Promise<T>) => Promise<T>) | undefined {
  if (!serverSpans) return undefined;
  return <T>(text: string, run: () => Promise<T>): Promise<T> => {
    const to = querySpanTarget(text);
    if (to === undefined) return run();
    const start = performance.now();
    return run().then(
      (result) => {
        recordQuery(to.parent, namespace, text, to.op, start, performance.now());
        return result;
      },
      (err: unknown) => {
        recordQuery(to.parent, namespace, text, to.op, start, performance.now(), err);
        throw err;
      },
    );
  };
}

/**
 * Kysely's `log` option for PGlite, which has no pool of Gatehouse's to trace in
 * ({@link queryTracer}): each query made inside a recorded trace becomes the same CLIENT span,
 * made after the fact from Kysely's own timing; undefined when tracing is off, so that Kysely
 * does no logging work at all.
 */
export function querySpanLogger(namespace: string): ((event: LogEvent) => void) | undefined {
  if (!serverSpans) return undefined;
  return (event) => {
    const text = event.query.sql;
    const to = querySpanTarget(text);
    if (to === undefined) return;
    const end = performance.now();
    recordQuery(to.parent, namespace, text, to.op, end - event.queryDurationMillis, end, event.level === 'error' ? event.error : undefined);
  };
}
