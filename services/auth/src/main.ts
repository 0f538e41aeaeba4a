/** Runs the auth service alone (per-service mode): `npm run start:auth`. */
import { loadConfig } from '@gatehouse/platform/config';
import { createLogger } from '@gatehouse/platform/logger';
import { closeSharedDeps, createSharedDeps, runUntilSignal } from '@gatehouse/platform/service';
import { createAuthService } from './service';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'gatehouse-auth' });
const shared = await createSharedDeps(config, logger);
const service = await createAuthService(config, shared);
const address = await runUntilSignal({
  app: service.app,
  host: config.host,
  port: config.port || 3001,
  logger,
  onClose: async () => {
    await service.close();
    await closeSharedDeps(shared);
  },
});
logger.info({ address }, 'auth service listening');
