/**
 * The users service as a unit the process starter and `main.ts` run: builds the dependencies
 * and the app, starts the background work, and closes it all.
 */
import type { Config } from '@gatehouse/platform/config';
import type { RunningService } from '@gatehouse/platform/service';
import { buildApp } from './app';
import { createDeps, type UsersOptions, type UsersShared } from './deps';

export type { UsersOptions, UsersShared } from './deps';

/**
 * Creates the users service: migrates its schema, builds the app, starts the outbox relay, the
 * storage sweeper and the identity replica (which first catches up on missed user events).
 * `close()` stops the background work and closes the database; the app is closed by the caller.
 */
export async function createUsersService(config: Config, shared: UsersShared, opts: UsersOptions = {}): Promise<RunningService> {
  const deps = await createDeps(config, shared, opts);
  try {
    const app = await buildApp(deps);
    await deps.start();
    return { name: 'users', app, close: () => deps.close() };
  } catch (err) {
    await deps.close().catch(() => {});
    throw err;
  }
}
