/** Runs the gateway alone (per-service mode): `npm run start:gateway` (PORT, default 3000); forwards to AUTH_URL, USERS_URL and AUDIT_URL. */
import { startTracing } from '@gatehouse/platform/tracing-sdk';

// Tracing first (when OTEL_EXPORTER_OTLP_ENDPOINT is set): http, pg and ioredis are patched
// as they load, so everything else is imported after it.
await startTracing(process.env, 'gatehouse-gateway');
const { runStandalone } = await import('@gatehouse/platform/service');
const { gatewayService } = await import('./service');

await runStandalone(process.env, gatewayService);
