/** Runs the auth service alone (per-service mode): `npm run start:auth` (PORT, default 3001). */
import { runStandalone } from '@gatehouse/platform/service';
import { createAuthService } from './service';

await runStandalone(process.env, { name: 'auth', defaultPort: 3001, create: (config, shared) => createAuthService(config, shared) });
