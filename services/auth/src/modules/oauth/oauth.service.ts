/**
 * Social login: start → provider → callback → one-time code → `POST /oauth/exchange`.
 *
 * - `start` checks the redirect URI against the tenant's allow-list (exact match), keeps the
 *   flow's state, nonce, PKCE verifier, redirect URI, tenant and a browser binding in the
 *   KvStore for 10 minutes, and sets the binding as an HttpOnly cookie (SameSite=Lax, so the
 *   provider's top-level redirect carries it): a callback URL replayed into another browser
 *   (login CSRF) fails `state_mismatch`.
 * - `callback` takes the state once. Without a valid state there is no trusted redirect URI,
 *   so that is a 400 problem; every later failure goes back to the redirect URI as `?error=`.
 *   Success hands the app a one-time code (2 minutes, single use); tokens never travel in URLs.
 * - Accounts are found by provider + subject. A new subject is linked to an existing account
 *   of the same email only when the provider asserts the email verified and the account's own
 *   email is verified too (an unverified local account may be an attacker's pre-registration);
 *   otherwise `link_required`: the user signs in and links from the account
 *   (`POST /oauth/{provider}/link/start`). Without a matching account a new one is created
 *   (no password) unless the tenant's `selfRegistration` setting is false.
 * - The exchange is a first factor (`amr: ['fed']`): users with TOTP are asked for it.
 * - A user lists the identities linked to the account (`GET /identities`) and unlinks one
 *   provider's (`DELETE /identities/{provider}`) while another way to sign in remains: a
 *   password, a passkey or another provider's identity; otherwise 409 `last_sign_in_method`.
 */
import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { Emit } from '@gatehouse/platform/db';
import type { Database, Tx } from '../../db/schema';
import type { KvStore } from '@gatehouse/platform/kv';
import { createSecretBox, randomToken, sha256 } from '@gatehouse/platform/crypto';
import { authEvent, userEvent } from '../../events';
import type { RequestContext } from '../../context';
import type { LoginGate, LoginResult } from '../mfa/mfa.login';
import type { Tenant, TenantService } from '../tenants/tenants.service';
import { guardStore } from '../throttle/throttle.errors';
import { findUserByEmail, findUserById, type UserRow } from '../users/users.queries';
import { eventUser } from '../users/users.service';
import { errors } from '@gatehouse/platform/errors';
import { authErrors } from '../auth/auth.errors';
import { oauthErrors, type CallbackError } from './oauth.errors';
import { CallbackFailure, PROVIDERS, PROVIDER_IDS, type ProviderClients, type ProviderConfig, type ProviderId, type Profile } from './oauth.providers';
import {
  deleteUserIdentities,
  findIdentity,
  findProviderConfig,
  insertFederatedUser,
  insertIdentity,
  listProviderConfigs,
  listUserIdentities,
  signInMethods,
  type ProviderRow,
} from './oauth.queries';
import { isAllowedRedirectUri, withParams } from './oauth.redirect';

/** How long a started flow may come back. */
export const FLOW_TTL_SEC = 600;
/** How long the one-time code handed to the app lives (the contract allows up to 10 minutes). */
export const CODE_TTL_SEC = 120;

interface FlowRecord {
  tenantId: string;
  provider: ProviderId;
  redirectUri: string;
  nonce: string;
  codeVerifier: string;
  /** sha256 of the browser binding cookie */
  binding: string;
  /** set for "link from my account" flows */
  linkUserId?: string;
}

interface CodeRecord {
  tenantId: string;
  userId: string;
  provider: ProviderId;
}

export interface OAuthServiceDeps {
  db: Database;
  kv: KvStore;
  tenants: TenantService;
  gate: LoginGate;
  clients: ProviderClients;
  secret: string;
  logger: Logger;
}

/** True for a provider id Gatehouse knows. */
export function isProviderId(id: string): id is ProviderId {
  return (PROVIDER_IDS as string[]).includes(id);
}

/** Creates the social-login service. */
export function createOAuthService(deps: OAuthServiceDeps) {
  const { db, kv, tenants, gate, clients, logger } = deps;
  const box = createSecretBox(deps.secret, 'oauth-client-secrets');
  const flowKey = (state: string) => `auth:oauth:flow:${sha256(state)}`;
  const codeKey = (code: string) => `auth:oauth:code:${sha256(code)}`;

  /** Whether the tenant offers a configured provider (enabled, and listed when `enabledProviders` is set). */
  function offered(tenant: Tenant, row: ProviderRow): boolean {
    const list = tenant.settings.enabledProviders;
    return row.enabled && isProviderId(row.provider) && (!Array.isArray(list) || list.includes(row.provider));
  }

  async function providerConfig(tenant: Tenant, id: string): Promise<ProviderConfig> {
    if (!isProviderId(id)) throw oauthErrors.providerNotFound();
    const row = await db.withTenantRead(tenant.id, (trx) => findProviderConfig(trx, id));
    if (!row || !offered(tenant, row)) throw oauthErrors.providerNotFound();
    return { id, row, clientSecret: box.open(row.client_secret_sealed) };
  }

  /** Finds or creates the account of a provider identity (see the module comment). */
  async function accountFor(trx: Tx, emit: Emit, tenant: Tenant, provider: ProviderId, profile: Profile, ctx: RequestContext): Promise<UserRow | CallbackError> {
    const identity = await findIdentity(trx, provider, profile.subject);
    if (identity) return (await findUserById(trx, identity.user_id)) ?? 'provider_error';
    if (!profile.email) return 'email_required';
    const existing = await findUserByEmail(trx, profile.email);
    if (existing) {
      if (!profile.emailVerified || existing.email_verified_at === null) return 'link_required';
      await insertIdentity(trx, { id: randomUUID(), tenant_id: tenant.id, provider, subject: profile.subject, user_id: existing.id, email: profile.email });
      await emit(authEvent('oauth_linked', tenant.id, ctx, { userId: existing.id, method: `oauth:${provider}`, reason: 'verified_email' }));
      return existing;
    }
    if (tenant.settings.selfRegistration === false) return 'registration_closed';
    const user = await insertFederatedUser(trx, {
      id: randomUUID(),
      tenant_id: tenant.id,
      email: profile.email,
      display_name: profile.name?.slice(0, 100) || null,
      email_verified_at: profile.emailVerified ? new Date() : null,
    });
    await insertIdentity(trx, { id: randomUUID(), tenant_id: tenant.id, provider, subject: profile.subject, user_id: user.id, email: profile.email });
    await emit(
      userEvent('created', tenant.id, eventUser(user)),
      authEvent('oauth_linked', tenant.id, ctx, { userId: user.id, method: `oauth:${provider}`, reason: 'registration' }),
    );
    return user;
  }

  /** Links a provider identity to a signed-in user's account. */
  async function linkTo(trx: Tx, emit: Emit, tenant: Tenant, provider: ProviderId, profile: Profile, userId: string, ctx: RequestContext): Promise<CallbackError | undefined> {
    const identity = await findIdentity(trx, provider, profile.subject);
    if (identity) return identity.user_id === userId ? undefined : 'identity_in_use';
    if (!(await findUserById(trx, userId))) return 'provider_error';
    await insertIdentity(trx, { id: randomUUID(), tenant_id: tenant.id, provider, subject: profile.subject, user_id: userId, email: profile.email });
    await emit(authEvent('oauth_linked', tenant.id, ctx, { userId, method: `oauth:${provider}`, reason: 'user_link' }));
    return undefined;
  }

  return {
    /** `GET /identities`: the user's linked identities and the other ways to sign in. */
    async identities(tenantId: string, userId: string) {
      const tenant = await tenants.requireActive(tenantId);
      return db.withTenant(tenant.id, async (trx) => {
        const methods = await signInMethods(trx, userId, false);
        if (!methods) throw errors.invalidToken();
        const rows = await listUserIdentities(trx, userId);
        return {
          items: rows.map((r) => ({
            id: r.id,
            provider: r.provider,
            name: isProviderId(r.provider) ? PROVIDERS[r.provider].name : r.provider,
            email: r.email,
            linkedAt: new Date(r.created_at).toISOString(),
          })),
          password: methods.password,
          passkeys: methods.passkeys,
        };
      });
    },

    /** `DELETE /identities/{provider}`: unlinks while another way to sign in remains. */
    async unlink(tenantId: string, userId: string, provider: string, ctx: RequestContext): Promise<void> {
      const tenant = await tenants.requireActive(tenantId);
      if (!isProviderId(provider)) throw oauthErrors.identityNotFound();
      await db.withTenant(tenant.id, async (trx, emit) => {
        const methods = await signInMethods(trx, userId, true);
        if (!methods) throw errors.invalidToken();
        const rows = await listUserIdentities(trx, userId);
        if (!rows.some((r) => r.provider === provider)) throw oauthErrors.identityNotFound();
        const othersRemain = methods.password || methods.passkeys > 0 || rows.some((r) => r.provider !== provider);
        if (!othersRemain) throw oauthErrors.lastSignInMethod();
        await deleteUserIdentities(trx, userId, provider);
        await emit(authEvent('oauth_unlinked', tenant.id, ctx, { userId, method: `oauth:${provider}`, reason: 'user_unlink' }));
      });
    },

    /** `GET /oauth/providers`: what the tenant offers. */
    async providers(tenantId: string): Promise<{ items: Array<{ id: string; name: string }> }> {
      const tenant = await tenants.requireActive(tenantId);
      const rows = await db.withTenant(tenant.id, (trx) => listProviderConfigs(trx));
      return { items: rows.filter((r) => offered(tenant, r)).map((r) => ({ id: r.provider, name: PROVIDERS[r.provider as ProviderId].name })) };
    },

    /**
     * Starts a flow: the provider's authorization URL and the browser binding for the cookie.
     * `linkUserId` makes it a link flow for a signed-in user.
     */
    async start(tenantId: string, providerId: string, redirectUri: string, linkUserId?: string): Promise<{ url: string; binding: string }> {
      const tenant = await tenants.requireActive(tenantId);
      if (!isAllowedRedirectUri(redirectUri, tenant.settings.redirectUris)) throw oauthErrors.invalidRedirectUri();
      const provider = await providerConfig(tenant, providerId);
      const checks = { state: randomToken(32), nonce: randomToken(32), codeVerifier: client.randomPKCECodeVerifier() };
      let url: string;
      try {
        url = await clients.authorizationUrl(provider, checks);
      } catch (err) {
        throw oauthErrors.providerUnavailable(err);
      }
      const binding = randomToken(32);
      const rec: FlowRecord = { tenantId: tenant.id, provider: provider.id, redirectUri, nonce: checks.nonce, codeVerifier: checks.codeVerifier, binding: sha256(binding), linkUserId };
      await guardStore(() => kv.set(flowKey(checks.state), JSON.stringify(rec), FLOW_TTL_SEC * 1000));
      return { url, binding };
    },

    /** The provider's redirect back: where to send the browser next. */
    async callback(providerId: string, query: URLSearchParams, binding: string | undefined, ctx: RequestContext): Promise<string> {
      const state = query.get('state');
      if (!state || state.length > 256) throw oauthErrors.invalidState();
      const raw = await guardStore(() => kv.take(flowKey(state)));
      if (!raw) throw oauthErrors.invalidState();
      const flow = JSON.parse(raw) as FlowRecord;
      if (flow.provider !== providerId) throw oauthErrors.invalidState();
      const fail = (error: CallbackError) => withParams(flow.redirectUri, { error });

      if (!binding || sha256(binding) !== flow.binding) return fail('state_mismatch');
      if (query.has('error')) return fail(query.get('error') === 'access_denied' ? 'access_denied' : 'provider_error');
      const tenant = await tenants.resolve({ id: flow.tenantId });
      if (!tenant || tenant.status !== 'active') return fail('tenant_not_found');
      let profile: Profile;
      try {
        const provider = await providerConfig(tenant, flow.provider);
        profile = await clients.profile(provider, query, { state, nonce: flow.nonce, codeVerifier: flow.codeVerifier });
      } catch (err) {
        if (err instanceof CallbackFailure) return fail(err.code);
        logger.warn({ err, provider: flow.provider }, 'social login callback failed');
        return fail('provider_error');
      }

      if (flow.linkUserId) {
        const linkUserId = flow.linkUserId;
        const problem = await db
          .withTenant(tenant.id, (trx, emit) => linkTo(trx, emit, tenant, flow.provider, profile, linkUserId, ctx))
          .catch((err: unknown) => ((err as { code?: string }).code === '23505' ? ('identity_in_use' as const) : Promise.reject(err)));
        if (problem) return fail(problem);
        return withParams(flow.redirectUri, { linked: flow.provider });
      }

      const resolve = () => db.withTenant(tenant.id, (trx, emit) => accountFor(trx, emit, tenant, flow.provider, profile, ctx));
      let account: UserRow | CallbackError;
      try {
        account = await resolve();
      } catch (err) {
        // two first sign-ins of one identity at once: the loser finds the winner's account
        if ((err as { code?: string }).code !== '23505') throw err;
        account = await resolve();
      }
      if (typeof account === 'string') return fail(account);
      if (account.disabled_at !== null) return fail('account_disabled');
      const code = randomToken(32);
      const rec: CodeRecord = { tenantId: tenant.id, userId: account.id, provider: flow.provider };
      await guardStore(() => kv.set(codeKey(code), JSON.stringify(rec), CODE_TTL_SEC * 1000));
      return withParams(flow.redirectUri, { code });
    },

    /** `POST /oauth/exchange`: the one-time code for tokens (or the MFA challenge). */
    async exchange(requestTenantId: string, code: string, ctx: RequestContext): Promise<LoginResult> {
      const raw = code.length > 128 ? null : await guardStore(() => kv.take(codeKey(code)));
      if (!raw) throw oauthErrors.invalidCode();
      const rec = JSON.parse(raw) as CodeRecord;
      if (rec.tenantId !== requestTenantId) throw oauthErrors.invalidCode();
      const tenant = await tenants.requireActive(rec.tenantId);
      const user = await db.withTenantRead(tenant.id, (trx) => findUserById(trx, rec.userId));
      if (!user) throw oauthErrors.invalidCode();
      if (user.disabled_at !== null) throw authErrors.accountDisabled();
      return gate.begin(tenant, user, ['fed'], ctx, `oauth:${rec.provider}`);
    },
  };
}
export type OAuthService = ReturnType<typeof createOAuthService>;
