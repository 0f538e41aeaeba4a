/**
 * The gateway as a service: what `main.ts` (standalone) and the all-in-one starter create.
 */
import type { Config, RunningService, SharedDeps } from '@gatehouse/platform';
import { buildApp } from './app';
import { createGatewayDeps, type GatewayOptions } from './deps';

/**
 * Builds the gateway for `config` (service base URLs from `config.serviceUrls`) on the
 * process's shared deps. The caller listens on `app` and, on shutdown, closes `app` and then
 * calls `close()`.
 */
export async function createGatewayService(config: Config, shared: SharedDeps, options: GatewayOptions = {}): Promise<RunningService> {
  const deps = createGatewayDeps(config, shared, options);
  await deps.start();
  try {
    const app = await buildApp(deps);
    await app.ready();
    return { name: 'gateway', app, close: () => deps.stop() };
  } catch (err) {
    await deps.stop();
    throw err;
  }
}
