/** Runs the audit service alone: `npm run start:audit` (PORT, default 3003). */
import { runStandalone } from '@gatehouse/platform/service';
import { auditService } from './service';

await runStandalone(process.env, auditService);
