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
 * Instrumented: HTTP in and out (node:http, fetch and @fastify/reply-from via undici), Fastify
 * routes (the server span takes the route's name, see `nameServerSpan`), pg queries, Redis
 * commands, and event publish/consume (`./tracing`, carried in each CloudEvent's traceparent).
 * Database and Redis calls are traced only inside a trace (a request, a consumed event): the
 * outbox relay's idle polling must not make a root trace a second.
 */
import { register } from 'node:module';

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
  // Our code is ES modules: the loader hook lets the instrumentations patch packages imported
  // with `import` (ioredis), not only those loaded with `require`.
  register('import-in-the-middle/hook.mjs', import.meta.url);
  const [{ NodeSDK }, { HttpInstrumentation }, { UndiciInstrumentation }, { PgInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
  ]);
  const probes = new Set(['/healthz', '/readyz', '/metrics']);
  const started = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME?.trim() || serviceName,
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => probes.has((req.url ?? '').split('?')[0] ?? '') }),
      new UndiciInstrumentation(),
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
    // traces only: metrics are Prometheus' (METRICS_PORT), logs are pino's JSON lines
    metricReaders: [],
    logRecordProcessors: [],
  });
  started.start();
  sdk = started;
  return true;
}

/** Exports the spans still buffered and stops the SDK (graceful shutdown); no-op when off. */
export async function shutdownTracing(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  await s?.shutdown().catch(() => {});
}
