/** Runs the auth service alone (per-service mode): `npm run start:auth` (PORT, default 3001). */
import { startTracing } from '@gatehouse/platform/tracing-sdk';

// Tracing first (when OTEL_EXPORTER_OTLP_ENDPOINT is set): http, pg and ioredis are patched
// as they load, so everything else is imported after it.
await startTracing(process.env, 'gatehouse-auth');
const { runStandalone } = await import('@gatehouse/platform/service');
const { authService } = await import('./service');

await runStandalone(process.env, authService);
