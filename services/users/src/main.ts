/** Runs the users service alone: `npm run start:users` (PORT, default 3002). */
import { runStandalone } from '@gatehouse/platform/service';
import { usersService } from './service';

await runStandalone(process.env, usersService);
