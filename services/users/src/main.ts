/** Runs the users service alone: `npm run start:users` (PORT, default 3002). */
import { startTracing } from '@gatehouse/platform/tracing-sdk';

// Tracing first (when OTEL_EXPORTER_OTLP_ENDPOINT is set): http, pg and ioredis are patched
// as they load, so everything else is imported after it.
await startTracing(process.env, 'gatehouse-users');
const { runStandalone } = await import('@gatehouse/platform/service');
const { usersService } = await import('./service');

await runStandalone(process.env, usersService);
