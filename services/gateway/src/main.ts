/** Runs the gateway alone (per-service mode): `npm run start:gateway` (PORT, default 3000); forwards to AUTH_URL, USERS_URL and AUDIT_URL. */
import { runStandalone } from '@gatehouse/platform/service';
import { gatewayService } from './service';

await runStandalone(process.env, gatewayService);
