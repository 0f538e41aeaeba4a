/**
 * The auth service as a unit the all-in-one starter, `main.ts`, the CLI and tests build:
 * database (schema `auth`), migrations, signing keys, the superadmin, the app and the outbox
 * relay. The app is returned not listening; the caller listens and closes it.
 */
import path from 'node:path';
import { DEFAULT_TENANT_ID, type User } from '@gatehouse/contracts';
import type { Config } from '@gatehouse/platform/config';
import { createDatabase, poolOptions } from '@gatehouse/platform/db';
import { findMigrationsDir } from '@gatehouse/platform/migrations';
import { AUTH_SCHEMA, type DB } from './db/schema';
import { resolveSecret } from '@gatehouse/platform/secret';
import type { RunningService, SharedDeps } from '@gatehouse/platform/service';
import { buildApp } from './app';
import { createAuthDeps, type AuthDeps } from './deps';
import { createUserAccount as createAccount, ensureSuperadmin, type NewAccount } from './modules/users/users.service';

export type { AuthDeps } from './deps';

/** Where this service's numbered .sql migrations live. */
export const AUTH_MIGRATIONS_DIR = findMigrationsDir(import.meta.url, 'auth');

/** Opens, migrates and wires the auth service. */
export async function createAuthService(config: Config, shared: SharedDeps): Promise<RunningService & { deps: AuthDeps }> {
  const secret = await resolveSecret(config);
  const url = config.serviceDatabaseUrls.auth ?? config.databaseUrl;
  const db = await createDatabase<DB>({ url, dataDir: url ? undefined : path.join(config.dataDir, 'auth'), schema: AUTH_SCHEMA, logger: shared.logger, ...poolOptions(config) });
  let deps: AuthDeps | undefined;
  try {
    await db.migrate(AUTH_MIGRATIONS_DIR);
    deps = createAuthDeps({ config, shared, db, secret });
    await deps.hasher.start();
    await deps.keys.start();
    if (config.adminEmail && config.adminPassword) {
      try {
        await ensureSuperadmin(deps, { email: config.adminEmail, password: config.adminPassword, tenantId: DEFAULT_TENANT_ID });
      } catch (err) {
        const detail = (err as { detail?: string }).detail;
        throw new Error(`GATEHOUSE_ADMIN_EMAIL/GATEHOUSE_ADMIN_PASSWORD could not be used: ${detail ?? (err as Error).message}`, { cause: err });
      }
    }
    const app = await buildApp(deps);
    deps.relay.start();
    deps.purger.start();
    const d = deps;
    return {
      name: 'auth',
      app,
      deps: d,
      async close() {
        d.keys.stop();
        await d.purger.stop();
        await d.background.idle();
        await d.relay.stop();
        await db.close();
      },
    };
  } catch (err) {
    deps?.keys.stop();
    await db.close().catch(() => {});
    throw err;
  }
}

/**
 * Makes a new signing key current; previous keys stay in the JWKS for the access-token
 * lifetime plus a margin. For `gatehouse keys rotate`. Returns the new kid.
 */
export async function rotateSigningKey(deps: Pick<AuthDeps, 'keys'>): Promise<string> {
  return deps.keys.rotate();
}

/**
 * Creates a user with the password policy and an argon2id hash, emitting `user.events.created`
 * (for `gatehouse user create [--admin]`). Throws AppError `weak_password`, `email_taken`,
 * `username_taken`, `tenant_not_found`.
 */
export async function createUserAccount(
  deps: Pick<AuthDeps, 'db' | 'hasher' | 'tenants'>,
  input: { email: string; password: string; username?: string; displayName?: string; roles: string[]; tenantId: string },
): Promise<User> {
  const account: NewAccount = { ...input };
  return createAccount(deps, account);
}
