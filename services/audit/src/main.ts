/** Runs the audit service alone: `npm run start:audit` (port PORT, default 3003). */
import { closeSharedDeps, createSharedDeps, runUntilSignal } from '@gatehouse/platform/service';
import { loadConfig } from '@gatehouse/platform/config';
import { createLogger } from '@gatehouse/platform/logger';
import { createAuditService } from './service';

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'gatehouse-audit' });
// config.port falls back to the gateway's 3000; alone, the audit service's own default is 3003.
const port = process.env.PORT ? config.port : 3003;

try {
  const shared = await createSharedDeps(config, logger);
  const service = await createAuditService(config, shared);
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
  logger.info({ address }, 'audit service listening');
} catch (err) {
  logger.fatal({ err }, 'audit service failed to start');
  process.exit(1);
}
