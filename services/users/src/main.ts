/** Runs the users service alone: `npm run start:users` (PORT, default 3002). */
import { runStandalone } from '@gatehouse/platform/service';
import { createUsersService } from './service';

await runStandalone(process.env, { name: 'users', defaultPort: 3002, create: (config, shared) => createUsersService(config, shared) });
