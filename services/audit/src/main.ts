/** Runs the audit service alone: `npm run start:audit` (PORT, default 3003). */
import { runStandalone } from '@gatehouse/platform/service';
import { createAuditService } from './service';

await runStandalone(process.env, { name: 'audit', defaultPort: 3003, create: (config, shared) => createAuditService(config, shared) });
