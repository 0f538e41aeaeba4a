/**
 * The gateway on its own (per-service mode): `npm run start:gateway`. Reads the environment,
 * listens on PORT (default 3000), forwards to AUTH_URL, USERS_URL and AUDIT_URL.
 */
import { closeSharedDeps, createLogger, createSharedDeps, loadConfig, runUntilSignal } from '@gatehouse/platform';
import { createGatewayService } from './service';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'gateway' });
const shared = await createSharedDeps(config, logger);
const gateway = await createGatewayService(config, shared);
const address = await runUntilSignal({
  app: gateway.app,
  host: config.host,
  port: config.port || 3000,
  logger,
  onClose: async () => {
    await gateway.close();
    await closeSharedDeps(shared);
  },
});
logger.info({ address, services: config.serviceUrls }, 'gateway listening');
