/**
 * Per-tenant provider configuration for the tenant's admins (`/api/v1/admin/oauth-providers`).
 * Client secrets are sealed with the master secret (AES-256-GCM) and never returned.
 * Endpoint URLs must be https; plain http is accepted for loopback hosts only, and only when
 * the deployment's own PUBLIC_URL is loopback (development and tests), so a tenant admin of a
 * real deployment cannot point the service at plain-http endpoints.
 */
import type { Database } from '../../db/schema';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { isLoopbackUrl } from '../auth/auth.cookies';
import { oauthErrors } from './oauth.errors';
import { isProviderId } from './oauth.service';
import { PROVIDERS, isLoopbackHttp, type ProviderId } from './oauth.providers';
import { deleteProviderConfig, listProviderConfigs, findProviderConfig, upsertProviderConfig, type ProviderEndpoints, type ProviderRow } from './oauth.queries';

/** A provider configuration as an admin sends it. */
export interface ProviderConfigInput {
  clientId: string;
  clientSecret?: string;
  scopes?: string[];
  discoveryUrl?: string;
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
  enabled?: boolean;
}

const ENDPOINT_FIELDS = ['issuer', 'authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint', 'jwksUri'] as const;

/** Creates the admin provider-configuration service. */
export function createOAuthAdminService({ db, secret, publicUrl }: { db: Database; secret: string; publicUrl: string }) {
  const box = createSecretBox(secret, 'oauth-client-secrets');
  const devDeployment = isLoopbackUrl(publicUrl);

  function checkUrl(field: string, value: string | undefined): void {
    if (value === undefined) return;
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw oauthErrors.badConfig(`body.${field}`, 'must be a URL');
    }
    if (u.username || u.password || u.hash) throw oauthErrors.badConfig(`body.${field}`, 'must not contain userinfo or a fragment');
    if (u.protocol === 'https:') return;
    if (devDeployment && isLoopbackHttp(u)) return;
    throw oauthErrors.badConfig(`body.${field}`, 'must be https');
  }

  function toView(r: ProviderRow) {
    const id = r.provider as ProviderId;
    return {
      provider: id,
      name: PROVIDERS[id]?.name ?? String(id),
      clientId: r.client_id,
      hasClientSecret: true,
      scopes: r.scopes,
      discoveryUrl: r.discovery_url,
      issuer: r.endpoints?.issuer ?? null,
      authorizationEndpoint: r.endpoints?.authorizationEndpoint ?? null,
      tokenEndpoint: r.endpoints?.tokenEndpoint ?? null,
      userinfoEndpoint: r.endpoints?.userinfoEndpoint ?? null,
      jwksUri: r.endpoints?.jwksUri ?? null,
      enabled: r.enabled,
      updatedAt: new Date(r.updated_at).toISOString(),
    };
  }

  return {
    async list(tenantId: string) {
      const rows = await db.withTenant(tenantId, (trx) => listProviderConfigs(trx));
      return { items: rows.map(toView) };
    },

    async put(tenantId: string, provider: string, input: ProviderConfigInput) {
      if (!isProviderId(provider)) throw oauthErrors.providerNotFound();
      checkUrl('discoveryUrl', input.discoveryUrl);
      for (const f of ENDPOINT_FIELDS) checkUrl(f, input[f]);
      const endpoints: ProviderEndpoints = {};
      for (const f of ENDPOINT_FIELDS) if (input[f] !== undefined) endpoints[f] = input[f];
      const kind = PROVIDERS[provider].kind;
      if (endpoints.authorizationEndpoint || endpoints.tokenEndpoint) {
        if (!endpoints.authorizationEndpoint || !endpoints.tokenEndpoint) throw oauthErrors.badConfig('body.tokenEndpoint', 'authorizationEndpoint and tokenEndpoint go together');
        // an ID token can only be verified with the issuer and its keys (LINE's key is the channel secret: HS256)
        if (kind === 'oidc' && !endpoints.issuer) throw oauthErrors.badConfig('body.issuer', 'overriding OpenID endpoints needs issuer too');
        if (kind === 'oidc' && provider !== 'line' && !endpoints.jwksUri) throw oauthErrors.badConfig('body.jwksUri', 'overriding OpenID endpoints needs issuer and jwksUri too');
      }
      if (provider === 'oidc' && !input.discoveryUrl && !endpoints.authorizationEndpoint) throw oauthErrors.badConfig('body.discoveryUrl', 'the generic OpenID provider needs discoveryUrl (or explicit endpoints)');
      if (input.discoveryUrl && kind !== 'oidc') throw oauthErrors.badConfig('body.discoveryUrl', `${provider} does not use OpenID discovery`);
      const row = await db.withTenant(tenantId, async (trx) => {
        const existing = await findProviderConfig(trx, provider);
        if (!existing && !input.clientSecret) throw oauthErrors.badConfig('body.clientSecret', 'is required for a new provider');
        return upsertProviderConfig(trx, {
          tenant_id: tenantId,
          provider,
          client_id: input.clientId,
          client_secret_sealed: input.clientSecret ? box.seal(input.clientSecret) : existing!.client_secret_sealed,
          discovery_url: input.discoveryUrl ?? null,
          scopes: input.scopes ?? null,
          endpoints,
          enabled: input.enabled ?? true,
        });
      });
      return toView(row);
    },

    async remove(tenantId: string, provider: string): Promise<void> {
      if (!(await db.withTenant(tenantId, (trx) => deleteProviderConfig(trx, provider)))) throw oauthErrors.providerNotFound();
    },
  };
}
export type OAuthAdminService = ReturnType<typeof createOAuthAdminService>;
