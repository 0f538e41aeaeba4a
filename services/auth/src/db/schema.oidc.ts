/** The OpenID provider's tables of the auth schema (migration 0007); part of `DB` in schema.ts. */
import type { Generated } from 'kysely';
import type { Default, Json } from '@gatehouse/platform/schema';

/** OAuth clients of the tenant's OpenID provider (issue 11); the secret only as its sha256. */
export interface OidcApplicationsTable {
  id: string;
  tenant_id: string;
  client_id: string;
  name: string;
  type: 'web' | 'spa' | 'native' | 'm2m';
  secret_hash: string | null;
  token_endpoint_auth_method: Generated<'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'>;
  redirect_uris: Generated<string[]>;
  post_logout_redirect_uris: Generated<string[]>;
  scopes: Generated<string[]>;
  resources: Generated<string[]>;
  jwks: Json<{ keys: Record<string, unknown>[] }> | null;
  first_party: Generated<boolean>;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One scope an API resource offers. */
export interface ResourceScope {
  name: string;
  description?: string;
}

/** API resources (RFC 8707): the `aud` of the access tokens requested for them. */
export interface OidcResourcesTable {
  id: string;
  tenant_id: string;
  name: string;
  audience: string;
  scopes: Default<Json<ResourceScope[]>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Consents a user gave an application (remembered, so the consent screen is shown once). */
export interface OidcConsentsTable {
  tenant_id: string;
  user_id: string;
  application_id: string;
  scopes: Generated<string[]>;
  granted_at: Generated<Date>;
}

/** oidc-provider's stored artifacts (its adapter); lookup columns copied out of the payload. */
export interface OidcPayloadsTable {
  tenant_id: string;
  model: string;
  id: string;
  payload: Json<Record<string, unknown>>;
  grant_id: string | null;
  account_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}
