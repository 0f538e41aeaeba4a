/**
 * The bench's stand-in for packages/platform/src/tracing.ts with no tracing code at all (no
 * @opentelemetry/api import, every helper a plain call): what the system did before issue 15.
 * bench/src/tracing.ts bundles it in place of the real module (cli/dist-no-tracing) for the
 * "none" runs of the tracing-cost bench, so "tracing off" can be compared with "no tracing code"
 * in one run.
 */
export async function withSpan<T>(_name: string, _attributes: Record<string, string | number | boolean>, fn: () => Promise<T>): Promise<T> {
  return fn();
}
export function currentTraceparent(): string | undefined {
  return undefined;
}
export function traceFields(): Record<string, string> {
  return {};
}
export async function publishSpan<E>(event: E, publish: (event: E) => Promise<void>): Promise<void> {
  return publish(event);
}
export async function consumeSpan<T>(_event: unknown, _consumer: string, fn: () => Promise<T>): Promise<T> {
  return fn();
}
export function nameServerSpan(_method: string, _route: string): void {}
export function enableServerSpans(_sampling?: unknown): void {}
export function takePrimedTraceId(): string | undefined {
  return undefined;
}
export function serverSpansEnabled(): boolean {
  return false;
}
export function tracedRequestListener<H>(handler: H): H {
  return handler;
}
export function querySpanLogger(_namespace: string): undefined {
  return undefined;
}
export function queryTracer(_namespace: string): undefined {
  return undefined;
}
export function sampledTraceparent(_traceparent: string): boolean {
  return false;
}
export function requestEventContext(_emitter: unknown, _event: unknown): undefined {
  return undefined;
}
export function endServerSpan(_res: unknown): void {}
export function forwardingHeaders(_req: unknown): undefined {
  return undefined;
}
export function withoutSpans<T>(fn: () => T): T {
  return fn();
}
export function carriesTraceparent(_request: unknown): boolean {
  return false;
}

// Every value tracing.ts exports has its stand-in here: a new export there without one fails the
// type check instead of the bench's "none" runs (the module is swapped in at load time).
const standIns: Record<keyof typeof import('../../packages/platform/src/tracing'), unknown> = {
  withSpan,
  currentTraceparent,
  traceFields,
  sampledTraceparent,
  publishSpan,
  consumeSpan,
  nameServerSpan,
  enableServerSpans,
  takePrimedTraceId,
  serverSpansEnabled,
  tracedRequestListener,
  querySpanLogger,
  queryTracer,
  requestEventContext,
  endServerSpan,
  forwardingHeaders,
  withoutSpans,
  carriesTraceparent,
};
void standIns;
