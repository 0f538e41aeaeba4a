/** `npm run start:users`: the users service alone (port 3002 unless PORT is set). */
import { loadConfig } from '@gatehouse/platform/config';
import { createLogger } from '@gatehouse/platform/logger';
import { closeSharedDeps, createSharedDeps, runUntilSignal } from '@gatehouse/platform/service';
import { createUsersService } from './service';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'users' });
// PORT defaults to the gateway's 3000 in the shared config; alone, this service has its own
const port = process.env.PORT ? config.port : 3002;

try {
  const shared = await createSharedDeps(config, logger);
  const service = await createUsersService(config, shared);
  const address = await runUntilSignal({
    app: service.app,
    host: config.host,
    port,
    logger,
    onClose: async () => {
      await service.close();
      await closeSharedDeps(shared);
    },
  });
  logger.info({ address }, 'users service listening');
} catch (err) {
  logger.fatal({ err }, 'users service failed to start');
  process.exit(1);
}
