/** Wires the auth service's dependencies, once per process. */
import type { Config } from '@gatehouse/platform/config';
import type { Database } from './db/schema';
import { createTokenVerifier, VERIFIED_TOKEN_CACHE } from '@gatehouse/platform/auth';
import { createOutboxRelay } from '@gatehouse/platform/events';
import { createWorkQueue } from '@gatehouse/platform/workqueue';
import { createPurger } from '@gatehouse/platform/purge';
import type { SharedDeps } from '@gatehouse/platform/service';
import { createBackground } from './background';
import { createAccountService } from './modules/account/account.service';
import { createAdminUserService } from './modules/admin-users/admin-users.service';
import { createRoleService } from './modules/roles/roles.service';
import { createAuthFlows } from './modules/auth/auth.service';
import { createRefreshCookies } from './modules/auth/auth.cookies';
import { createKeyService } from './modules/keys/keys.service';
import { createMfaSecrets } from './modules/mfa/mfa.codes';
import { createLoginGate } from './modules/mfa/mfa.login';
import { createMfaService } from './modules/mfa/mfa.service';
import { createMfaTokens } from './modules/mfa/mfa.tokens';
import { createOidcAdmin } from './modules/oidc/oidc.admin';
import { createOidcProviders } from './modules/oidc/oidc.provider';
import { createOAuthAdminService } from './modules/oauth/oauth.admin';
import { createProviderClients } from './modules/oauth/oauth.providers';
import { createOAuthService } from './modules/oauth/oauth.service';
import { createPasskeyService } from './modules/passkeys/passkeys.service';
import { ARGON2_PARAMS, createPasswordHasher } from './modules/passwords/passwords.service';
import { authPurgeTasks } from './modules/purge/purge.service';
import { createRecoveryService } from './modules/recovery/recovery.service';
import { createSessionService } from './modules/sessions/sessions.service';
import { createTenantAdmin } from './modules/tenants/tenants.admin';
import { createTenantService, MAX_TENANT_ACCESS_TTL_SEC } from './modules/tenants/tenants.service';
import { createThrottle } from './modules/throttle/throttle.service';
import { createWebhookDelivery } from './modules/webhooks/webhooks.delivery';
import { createWebhookService } from './modules/webhooks/webhooks.service';
import { registerDatabaseMetrics } from '@gatehouse/platform/db';
import { createAuthMetrics } from './metrics';

/** Margin a retired signing key stays published beyond the longest access-token lifetime. */
const KEY_OVERLAP_MARGIN_SEC = 300;

/** How long a retired signing key stays published: the longest access-token lifetime plus a margin. */
export function signingKeyOverlapSec(config: Config): number {
  return Math.max(config.tokens.accessTtlSec, MAX_TENANT_ACCESS_TTL_SEC) + KEY_OVERLAP_MARGIN_SEC;
}

/** Builds every part of the auth service from its database, secret and the process-wide deps. */
export function createAuthDeps({ config, shared, db, secret }: { config: Config; shared: SharedDeps; db: Database; secret: string }) {
  const logger = shared.logger.child({ service: 'auth' });
  const { issuer, audience } = config.tokens;
  // the relay is cross-tenant by nature (it publishes every tenant's events): owner connection
  const relay = createOutboxRelay({ db: db.admin, schema: db.schema, transport: shared.transport, logger, registry: shared.registry });
  const metrics = createAuthMetrics(shared.registry);
  registerDatabaseMetrics(shared.registry, 'auth', db);
  const hasher = createPasswordHasher(ARGON2_PARAMS, createWorkQueue(config.hashing), metrics);
  const throttle = createThrottle({ kv: shared.kv, limits: config.throttle, metrics });
  const tenants = createTenantService({ db });
  const keys = createKeyService({
    db,
    secret,
    algorithm: config.tokens.algorithm,
    issuer,
    audience,
    overlapSec: signingKeyOverlapSec(config),
    logger,
  });
  const verifier = createTokenVerifier({ keys: keys.getKey, issuer, audience, revocations: shared.revocations, cache: VERIFIED_TOKEN_CACHE });
  const background = createBackground(logger);
  const sessions = createSessionService({ db, keys, tenants, tokens: config.tokens, metrics });
  // what follows every commit: the outbox relay is nudged and revocations published (db.ts, Emit)
  db.onCommit({ relay, revocations: shared.revocations, revocationTtlMs: sessions.revocationTtlMs });
  const recovery = createRecoveryService({
    db,
    hasher,
    throttle,
    tenants,
    sessions,
    mailer: shared.mailer,
    background,
    publicUrl: config.publicUrl,
    logger,
  });
  const mfaTokens = createMfaTokens(shared.kv);
  const mfaSecrets = createMfaSecrets(secret);
  const gate = createLoginGate({ db, tokens: mfaTokens, secrets: mfaSecrets, sessions, tenants, throttle, logger, metrics });
  const mfa = createMfaService({ db, gate, tokens: mfaTokens, secrets: mfaSecrets, hasher, throttle, tenants, logger });
  const passkeys = createPasskeyService({ db, kv: shared.kv, tenants, gate, throttle, publicUrl: config.publicUrl, baseDomain: config.baseDomain, logger });
  const oauth = createOAuthService({
    db,
    kv: shared.kv,
    tenants,
    gate,
    clients: createProviderClients({ publicUrl: config.publicUrl, logger }),
    secret,
    logger,
  });
  const oauthAdmin = createOAuthAdminService({ db, secret, publicUrl: config.publicUrl });
  const oidcProviders = createOidcProviders({
    db,
    keys,
    tenants,
    publicUrl: config.publicUrl,
    baseDomain: config.baseDomain,
    secret,
    algorithm: config.tokens.algorithm,
    logger,
  });
  const oidcAdmin = createOidcAdmin({ db, providers: oidcProviders });
  const auth = createAuthFlows({ db, hasher, throttle, tenants, sessions, recovery, gate, logger, metrics });
  const admin = createAdminUserService({ db, sessions, recovery, hasher, tenants, throttle });
  const roles = createRoleService({ db });
  const account = createAccountService({ db, hasher, throttle, tenants, sessions, recovery, publicUrl: config.publicUrl });
  const cookies = createRefreshCookies({ publicUrl: config.publicUrl, corsOrigins: config.corsOrigins, tenants });
  const tenantAdmin = createTenantAdmin({ db, hasher, background, logger });
  // the consumer routes every tenant's events, the worker claims every tenant's due deliveries
  const webhookDelivery = createWebhookDelivery({
    db,
    secret,
    transport: shared.transport,
    mailer: shared.mailer,
    metrics,
    logger,
    config: config.webhooks,
    publicUrl: config.publicUrl,
  });
  const webhooks = createWebhookService({ db, secret, allowPrivate: config.webhooks.allowPrivate, nudge: webhookDelivery.nudge });
  const purger = createPurger({ tasks: authPurgeTasks(db, config.purge), intervalSec: config.purge.intervalSec, batchSize: config.purge.batchSize, logger });
  return { config, shared, logger, metrics, db, relay, purger, hasher, throttle, tenants, tenantAdmin, keys, verifier, background, sessions, recovery, auth, admin, roles, account, cookies, mfaTokens, gate, mfa, passkeys, oauth, oauthAdmin, webhooks, webhookDelivery, oidcProviders, oidcAdmin };
}
export type AuthDeps = ReturnType<typeof createAuthDeps>;
