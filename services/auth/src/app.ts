/** The auth service's Fastify app: `buildApp(deps)` (tests use `app.inject`, main.ts listens). */
import cookie from '@fastify/cookie';
import { createHttpApp, type HttpApp } from '@gatehouse/platform/http';
import type { AuthDeps } from './deps';
import { registerAccountRoutes } from './modules/account/account.routes';
import { registerAdminUserRoutes } from './modules/admin-users/admin-users.routes';
import { registerRoleRoutes } from './modules/roles/roles.routes';
import { registerAuthRoutes } from './modules/auth/auth.routes';
import { registerKeyRoutes } from './modules/keys/keys.routes';
import { registerMfaRoutes } from './modules/mfa/mfa.routes';
import { registerOidcRoutes } from './modules/oidc/oidc.routes';
import { registerOAuthRoutes } from './modules/oauth/oauth.routes';
import { registerPasskeyRoutes } from './modules/passkeys/passkeys.routes';
import { registerRecoveryRoutes } from './modules/recovery/recovery.routes';
import { registerSessionRoutes } from './modules/sessions/sessions.routes';
import { registerTenantRoutes } from './modules/tenants/tenants.routes';
import { registerWebhookRoutes } from './modules/webhooks/webhooks.routes';

/** Builds the app with every route of the service; not listening. */
export async function buildApp(deps: AuthDeps): Promise<HttpApp> {
  const { config, shared, db, verifier } = deps;
  const app = await createHttpApp({
    name: 'auth',
    logger: deps.logger,
    openapi: { title: 'Gatehouse auth' },
    trustProxy: true /* only the gateway reaches services; it sets X-Forwarded-For */,
    readiness: { database: () => db.ping(), kv: () => shared.kv.ping(), events: () => shared.transport.ping(), consumer: async () => deps.webhookDelivery.check() },
    registry: shared.registry,
    bodyLimit: config.bodyLimitBytes,
  });
  await app.register(cookie);
  registerKeyRoutes(app, deps);
  registerTenantRoutes(app, deps);
  registerAuthRoutes(app, { auth: deps.auth, sessions: deps.sessions, verifier, cookies: deps.cookies });
  registerSessionRoutes(app, { sessions: deps.sessions, verifier });
  registerRecoveryRoutes(app, { recovery: deps.recovery, verifier });
  registerAdminUserRoutes(app, { admin: deps.admin, mfa: deps.mfa, verifier });
  registerRoleRoutes(app, { roles: deps.roles, verifier });
  registerAccountRoutes(app, { account: deps.account, verifier });
  registerMfaRoutes(app, { gate: deps.gate, mfa: deps.mfa, tokens: deps.mfaTokens, verifier, cookies: deps.cookies });
  registerPasskeyRoutes(app, { passkeys: deps.passkeys, verifier, cookies: deps.cookies });
  registerWebhookRoutes(app, { webhooks: deps.webhooks, verifier });
  registerOAuthRoutes(app, { oauth: deps.oauth, oauthAdmin: deps.oauthAdmin, verifier, cookies: deps.cookies, publicUrl: config.publicUrl });
  await registerOidcRoutes(app, { providers: deps.oidcProviders, oidcAdmin: deps.oidcAdmin, verifier, db });
  return app;
}
