/** Runs the auth service alone (per-service mode): `npm run start:auth` (PORT, default 3001). */
import { runStandalone } from '@gatehouse/platform/service';
import { authService } from './service';

await runStandalone(process.env, authService);
