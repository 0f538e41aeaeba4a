/** Runs the audit service alone: `npm run start:audit` (PORT, default 3003). */
import { startTracing } from '@gatehouse/platform/tracing-sdk';

// Tracing first (when OTEL_EXPORTER_OTLP_ENDPOINT is set): http, pg and ioredis are patched
// as they load, so everything else is imported after it.
await startTracing(process.env, 'gatehouse-audit');
const { runStandalone } = await import('@gatehouse/platform/service');
const { auditService } = await import('./service');

await runStandalone(process.env, auditService);
