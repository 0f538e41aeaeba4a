/**
 * The users service's contract (the package's entry point): what the all-in-one starter,
 * `main.ts`, the CLI and the tests build. `create` opens and migrates the database (schema
 * `users`) and builds the app; `start` runs the outbox relay, the storage sweeper and the
 * identity replica (which first catches up on missed user events).
 */
import type { Config } from '@gatehouse/platform/config';
import { resolveSecret } from '@gatehouse/platform/secret';
import { findMigrationsDir } from '@gatehouse/platform/migrations';
import { assembleService, openServiceDatabase, verificationKeys, type ServiceDefinition, type ServiceInstance } from '@gatehouse/platform/service';
import { buildApp } from './app';
import type { DB } from './db/schema';
import { createDeps, type UsersDeps, type UsersOptions, type UsersShared } from './deps';

export type { UsersDeps, UsersOptions, UsersShared } from './deps';

async function create(config: Config, shared: UsersShared, options: UsersOptions = {}): Promise<ServiceInstance<UsersDeps>> {
  const keys = verificationKeys(config, shared, { service: 'users', required: true });
  const secret = await resolveSecret(config);
  const { db } = await openServiceDatabase<DB>(config, usersService, { logger: shared.logger.child({ service: 'users' }) });
  return assembleService({
    name: 'users',
    deps: () => createDeps({ config, shared, db, secret, keys, options }),
    app: buildApp,
    release: () => db.close(),
  });
}

/** The users service: profiles, avatars, attendance QR codes, events and check-ins. */
export const usersService: ServiceDefinition<UsersDeps, UsersOptions, UsersShared> = {
  name: 'users',
  schema: 'users',
  migrationsDir: findMigrationsDir(import.meta.url, 'users'),
  defaultPort: 3002,
  create,
};
