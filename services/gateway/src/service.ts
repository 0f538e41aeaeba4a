/**
 * The gateway's contract (the package's entry point): what `main.ts` (alone) and the
 * all-in-one starter build. Service base URLs come from `config.serviceUrls`; it owns no database.
 */
import type { Config, ServiceDefinition, ServiceInstance, SharedDeps } from '@gatehouse/platform';
import { buildApp } from './app';
import { createGatewayDeps, type GatewayDeps, type GatewayOptions } from './deps';

export type { GatewayDeps, GatewayOptions } from './deps';

async function create(config: Config, shared: SharedDeps, options: GatewayOptions = {}): Promise<ServiceInstance<GatewayDeps>> {
  const deps = createGatewayDeps(config, shared, options);
  const app = await buildApp(deps);
  await app.ready();
  return {
    name: 'gateway',
    app,
    deps,
    // subscribes to tenant events (cache invalidation)
    start: () => deps.start(),
    async close() {
      await app.close();
      await deps.stop();
    },
  };
}

/** The gateway: the only public port (tenancy, tokens, limits, docs, the console, the proxy). */
export const gatewayService: ServiceDefinition<GatewayDeps, GatewayOptions> = {
  name: 'gateway',
  defaultPort: 3000,
  create,
};
