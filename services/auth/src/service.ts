/**
 * The auth service's contract (the package's entry point): what the all-in-one starter,
 * `main.ts`, the CLI and the tests build. `create` opens and migrates the database (schema
 * `auth`), loads the signing keys, ensures the superadmin and builds the app; `start` runs the
 * outbox relay.
 */
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import type { Config } from '@gatehouse/platform/config';
import { findMigrationsDir } from '@gatehouse/platform/migrations';
import { AUTH_SCHEMA, type DB } from './db/schema';
import { resolveSecret } from '@gatehouse/platform/secret';
import { buildOrClose, openServiceDatabase, type ServiceDefinition, type ServiceInstance, type SharedDeps } from '@gatehouse/platform/service';
import { buildApp } from './app';
import { createAuthDeps, type AuthDeps } from './deps';
import { ensureSuperadmin } from './modules/users/users.service';
import { createAuthGrpc } from './modules/grpc/grpc.service';

export type { AuthDeps } from './deps';

async function create(config: Config, shared: SharedDeps): Promise<ServiceInstance<AuthDeps>> {
  const secret = await resolveSecret(config);
  const { db } = await openServiceDatabase<DB>(config, authService, { logger: shared.logger });
  let deps: AuthDeps | undefined;
  return buildOrClose(
    async () => {
      const d = createAuthDeps({ config, shared, db, secret });
      deps = d;
      await d.hasher.start();
      await d.keys.start();
      if (config.adminEmail && config.adminPassword) {
        try {
          await ensureSuperadmin(d, { email: config.adminEmail, password: config.adminPassword, tenantId: DEFAULT_TENANT_ID });
        } catch (err) {
          const detail = (err as { detail?: string }).detail;
          throw new Error(`GATEHOUSE_ADMIN_EMAIL/GATEHOUSE_ADMIN_PASSWORD could not be used: ${detail ?? (err as Error).message}`, { cause: err });
        }
      }
      // requests may come from here on: their argon2 work goes to the worker threads
      d.hasher.useWorkers();
      const app = await buildApp(d);
      let started = false;
      return {
        name: 'auth' as const,
        app,
        deps: d,
        verificationKeys: d.keys.getKey,
        grpc: createAuthGrpc({ db: d.db, verifier: d.verifier, admin: d.admin }),
        async start() {
          if (started) return;
          started = true;
          d.relay.start();
          d.purger.start();
          await d.webhookDelivery.start();
        },
        async close() {
          await app.close();
          d.keys.stop();
          await d.purger.stop();
          if (started) await d.webhookDelivery.stop();
          await d.background.idle();
          if (started) await d.relay.stop();
          await db.close();
        },
      };
    },
    async () => {
      deps?.keys.stop();
      await db.close();
    },
  );
}

/** The auth service: accounts, sessions, tokens and the JWKS, MFA, passkeys, OAuth, tenants. */
export const authService: ServiceDefinition<AuthDeps> = {
  name: 'auth',
  schema: AUTH_SCHEMA,
  migrationsDir: findMigrationsDir(import.meta.url, 'auth'),
  defaultPort: 3001,
  create,
};
