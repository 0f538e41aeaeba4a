// `node --import ./bench/src/no-tracing-hook.mjs`: resolves the platform's tracing helpers
// (packages/platform/src/tracing.ts) to bench/src/no-tracing.ts, for the tracing-cost bench's
// "no tracing code" runs. Bench-only; the product never loads it.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
const stub = ${JSON.stringify(new URL('./no-tracing.ts', import.meta.url).href)};
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return /\\/packages\\/platform\\/src\\/tracing\\.ts$/.test(r.url) ? { ...r, url: stub } : r;
}`),
);
