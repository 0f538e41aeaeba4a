/**
 * Starts the OpenTelemetry Node SDK when tracing is configured, before the instrumented
 * modules load: each `main.ts` (and `gatehouse start`) calls {@link startTracing} first and
 * imports the rest of the process afterwards.
 *
 * Configured by the standard variables, read by the SDK itself: OTEL_EXPORTER_OTLP_ENDPOINT
 * (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by
 * default, http/json, grpc), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER...
 * With no endpoint nothing is loaded (not even the SDK): the API's no-op tracer stays, at the
 * cost of a function call per would-be span. Only traces are exported; metrics stay on
 * METRICS_PORT and logs on stdout.
 *
 * Instrumented: HTTP in (each HTTP app's own SERVER span, `tracedRequestListener`, named after
 * the Fastify route by `nameServerSpan`) and out (node:http, fetch via undici; the gateway's
 * forwarding sends its SERVER span's traceparent and makes no span of its own,
 * `forwardingHeaders`), database queries (PostgreSQL: the pool's own query function, `queryTracer`;
 * PGlite: Kysely's log hook, `querySpanLogger`), Redis commands (not the gateway's rate-limit counters, `withoutSpans`), and event
 * publish/consume (`./tracing`, carried in each CloudEvent's traceparent).
 * Database and Redis calls are traced only inside a trace (a request, a consumed event): the
 * outbox relay's idle polling must not make a root trace a second.
 *
 * Kept cheap (the goal: within 10% of tracing off, bench/src/tracing.ts): the server and query
 * spans are Gatehouse's own (lean, no pool checkout or BEGIN/COMMIT spans), a proxied request
 * has no forwarding span, and a traced request's events re-enter its context through the
 * server's own request and response classes (traced-server.ts), not `context.bind` on its
 * emitters; an authenticated GET makes 3 spans (gateway SERVER, auth SERVER, one query),
 * where it made 4 (6 with the rate limits on) until 2026-12-07. Redis spans name the command
 * only, outgoing HTTP only inside a trace, probes untraced.
 * The production bundles keep the start-first order by code splitting (scripts/build.mjs).
 */
import { register } from 'node:module';
import { SpanKind } from '@opentelemetry/api';
import { carriesTraceparent, enableServerSpans, takePrimedTraceId, type HeadSampling } from './tracing';

type Env = Record<string, string | undefined>;
let sdk: { shutdown(): Promise<void> } | undefined;

/** True when an OTLP endpoint is configured (the condition for tracing to be on). */
export function tracingConfigured(env: Env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts tracing when configured; `serviceName` is used unless OTEL_SERVICE_NAME is set.
 * Returns whether it started. Call once, first thing in the process.
 */
export async function startTracing(env: Env, serviceName: string): Promise<boolean> {
  if (sdk || !tracingConfigured(env)) return false;
  // ioredis is imported as an ES module, which require-in-the-middle cannot see: the
  // import-in-the-middle loader hook lets its instrumentation patch it. Only ioredis goes
  // through the hook (`include`), on the main thread where Node allows it (registerHooks):
  // the unrestricted off-thread hook wrapped every module loaded afterwards and made a GET
  // 5-8 ms slower at an idle CPU (bench/results/2026-12-06-servers-tracing.md). pg, http and
  // undici are reached through require (CommonJS, node: built-ins, diagnostics channels).
  const HOOKED = ['ioredis'];
  const iitm = await import('import-in-the-middle/register-hooks.mjs');
  if (iitm.supportsSyncHooks()) iitm.register({ include: HOOKED });
  else register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include: HOOKED } });
  const [{ NodeSDK }, { HttpInstrumentation }, { UndiciInstrumentation }, { IORedisInstrumentation }, trace] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/sdk-trace'),
  ]);
  const sampler = samplerFromEnv(trace, env);
  const sampling = headSampling(trace, sampler);
  const started = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME?.trim() || serviceName,
    sampler,
    idGenerator: sampling.idGenerator,
    instrumentations: [
      // outgoing node:http calls (the S3 client) only inside a trace; incoming requests get
      // their server span from the HTTP apps themselves (tracing.ts, tracedRequestListener)
      new HttpInstrumentation({ disableIncomingRequestInstrumentation: true, requireParentforOutgoingSpans: true }),
      // fetch and undici; only inside a trace (readiness polls, JWKS refreshes make none); not
      // the gateway's forwarding, which carries the gateway's SERVER span as its traceparent and
      // needs no span between it and the service's (tracing.ts, forwardingHeaders)
      new UndiciInstrumentation({ requireParentforSpans: true, ignoreRequestHook: carriesTraceparent }),
      // the command name only: arguments (keys, values, rate-limit scripts) stay out of traces
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ],
    // traces only: metrics are Prometheus' (METRICS_PORT), logs are pino's JSON lines
    metricReaders: [],
    logRecordProcessors: [],
  });
  started.start();
  enableServerSpans(sampling.head);
  sdk = started;
  return true;
}

type TraceSdk = typeof import('@opentelemetry/sdk-trace');
type Sampler = import('@opentelemetry/sdk-trace').Sampler;
type IdGenerator = import('@opentelemetry/sdk-trace').IdGenerator;

/**
 * The head sampler OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG name, as the SDK reads them
 * (its own reader is internal; this one is needed to wrap the result): always_on, always_off,
 * traceidratio, parentbased_always_on (the default), parentbased_always_off,
 * parentbased_traceidratio. An unknown name is the default.
 */
export function samplerFromEnv(t: TraceSdk, env: Env): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || 'parentbased_always_on';
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const ratio = () => new t.TraceIdRatioBasedSampler(Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1);
  switch (name) {
    case 'always_on':
      return new t.AlwaysOnSampler();
    case 'always_off':
      return new t.AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new t.ParentBasedSampler({ root: new t.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new t.ParentBasedSampler({ root: ratio() });
    default:
      return new t.ParentBasedSampler({ root: new t.AlwaysOnSampler() });
  }
}

/**
 * The id generator to give the SDK and the head sampling to give `enableServerSpans`, over the
 * SDK's `sampler`: HTTP requests are sampled before their SERVER span is started (tracing.ts,
 * tracedRequestListener), and a recorded root span takes the trace id it was sampled on.
 */
export function headSampling(t: TraceSdk, sampler: Sampler): { idGenerator: IdGenerator; head: HeadSampling } {
  const ids = new t.RandomIdGenerator();
  return {
    idGenerator: { generateTraceId: () => takePrimedTraceId() ?? ids.generateTraceId(), generateSpanId: () => ids.generateSpanId() },
    head: {
      records: (parent, traceId, name, attributes) => sampler.shouldSample(parent, traceId, name, SpanKind.SERVER, attributes, []).decision !== t.SamplingDecision.NOT_RECORD,
      newTraceId: () => ids.generateTraceId(),
      newSpanId: () => ids.generateSpanId(),
    },
  };
}

/** Exports the spans still buffered and stops the SDK (graceful shutdown); no-op when off. */
export async function shutdownTracing(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  await s?.shutdown().catch(() => {});
}
