/**
 * The auth service's tables, as its migrations (services/auth/migrations) create them: the
 * one declaration every query is typed through (`Selectable`, `Insertable`, `Updateable`).
 * `columns` repeats each table one line per column for run time; the type system holds it to
 * the interfaces and `schema.test.ts` holds it to the migrated database (see
 * packages/platform/src/schema.ts for why this and not a generator).
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Database as PlatformDatabase, Db as PlatformDb, Tx as PlatformTx } from '@gatehouse/platform/db';
import { platformColumns, type Default, type Int8, type Json, type PlatformTables, type SchemaSpec } from '@gatehouse/platform/schema';
import type { WebhookAttemptsTable, WebhookDeliveriesTable, WebhookEndpointsTable, WebhookQueueTable } from './schema.webhooks';
import type { OidcApplicationsTable, OidcConsentsTable, OidcPayloadsTable, OidcResourcesTable } from './schema.oidc';

export type * from './schema.webhooks';
export type * from './schema.oidc';

/** The PostgreSQL schema the service's tables live in. */
export const AUTH_SCHEMA = 'auth';

/** Tenants: global (not tenant-owned); the application role may only read them. */
export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  status: Generated<'active' | 'disabled'>;
  settings: Default<Json<Record<string, unknown>>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Token signing keys (global); the private half sealed with the master secret. */
export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: Json<Record<string, unknown>>;
  private_sealed: string;
  created_at: Generated<Date>;
  retired_at: Date | null;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  email: string;
  username: string | null;
  display_name: string | null;
  password_hash: string | null;
  roles: Generated<string[]>;
  email_verified_at: Date | null;
  disabled_at: Date | null;
  mfa_enabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  last_login_at: Date | null;
  /** lower(email) in the "C" collation, computed by the database (0010): lookups under RLS use its index */
  email_key: ColumnType<string, never, never>;
  /** lower(username) in the "C" collation, computed by the database (0010) */
  username_key: ColumnType<string | null, never, never>;
}

export interface SessionsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  created_at: Generated<Date>;
  last_used_at: Generated<Date>;
  expires_at: Date;
  idle_expires_at: Date;
  revoked_at: Date | null;
  revoke_reason: string | null;
  ip: string | null;
  user_agent: string | null;
  amr: Generated<string[]>;
}

/** Refresh tokens by sha256; used rows stay (until the session goes) to recognise reuse. */
export interface RefreshTokensTable {
  token_hash: string;
  tenant_id: string;
  session_id: string;
  created_at: Generated<Date>;
  used_at: Date | null;
}

export type OneTimePurpose = 'verify_email' | 'reset_password' | 'change_email';

/** Email verification and password reset tokens by sha256: single use, short expiry. */
export interface OneTimeTokensTable {
  token_hash: string;
  tenant_id: string;
  user_id: string;
  purpose: OneTimePurpose;
  created_at: Generated<Date>;
  expires_at: Date;
  used_at: Date | null;
  /** the address an email change moves to (purpose `change_email` only) */
  new_email: string | null;
}

/** A tenant's custom roles (0008); the built-in ones are not rows. */
export interface RolesTable {
  tenant_id: string;
  name: string;
  description: string | null;
  permissions: Generated<string[]>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface MfaTotpTable {
  user_id: string;
  tenant_id: string;
  secret_sealed: string;
  confirmed_at: Date | null;
  /** the last accepted RFC 6238 time step (-1: none yet) */
  last_step: Default<Int8>;
  created_at: Generated<Date>;
}

export interface MfaBackupCodesTable {
  user_id: string;
  code_hash: string;
  tenant_id: string;
  created_at: Generated<Date>;
  used_at: Date | null;
}

export interface PasskeysTable {
  id: string;
  tenant_id: string;
  user_id: string;
  credential_id: string;
  /** the COSE public key as the authenticator returned it (a Buffer when read) */
  public_key: ColumnType<Uint8Array, Uint8Array, Uint8Array>;
  counter: Default<Int8>;
  transports: Generated<string[]>;
  device_type: string;
  backed_up: Generated<boolean>;
  name: string | null;
  created_at: Generated<Date>;
  last_used_at: Date | null;
}

/** Endpoint overrides of a provider configuration. */
export interface ProviderEndpoints {
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
}

export interface OauthProvidersTable {
  tenant_id: string;
  provider: string;
  client_id: string;
  client_secret_sealed: string;
  discovery_url: string | null;
  scopes: string[] | null;
  endpoints: Default<Json<ProviderEndpoints>>;
  enabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface OauthIdentitiesTable {
  id: string;
  tenant_id: string;
  provider: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: Generated<Date>;
}

/** Every table of the auth schema, the platform's included. */
export interface DB extends PlatformTables {
  tenants: TenantsTable;
  signing_keys: SigningKeysTable;
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  one_time_tokens: OneTimeTokensTable;
  mfa_totp: MfaTotpTable;
  mfa_backup_codes: MfaBackupCodesTable;
  passkeys: PasskeysTable;
  oauth_providers: OauthProvidersTable;
  oauth_identities: OauthIdentitiesTable;
  roles: RolesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_queue: WebhookQueueTable;
  oidc_applications: OidcApplicationsTable;
  oidc_resources: OidcResourcesTable;
  oidc_consents: OidcConsentsTable;
  oidc_payloads: OidcPayloadsTable;
}

/** The tables at run time, one line per column (checked against the interfaces above). */
export const columns = {
  ...platformColumns,
  tenants: {
    id: 'uuid',
    slug: 'text',
    name: 'text',
    status: 'text default',
    settings: 'jsonb default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  signing_keys: {
    kid: 'text',
    alg: 'text',
    public_jwk: 'jsonb',
    private_sealed: 'text',
    created_at: 'timestamptz default',
    retired_at: 'timestamptz null',
  },
  users: {
    id: 'uuid',
    tenant_id: 'uuid',
    email: 'text',
    username: 'text null',
    display_name: 'text null',
    password_hash: 'text null',
    roles: 'text[] default',
    email_verified_at: 'timestamptz null',
    disabled_at: 'timestamptz null',
    mfa_enabled: 'bool default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
    last_login_at: 'timestamptz null',
    email_key: 'text',
    username_key: 'text null',
  },
  sessions: {
    id: 'uuid',
    tenant_id: 'uuid',
    user_id: 'uuid',
    created_at: 'timestamptz default',
    last_used_at: 'timestamptz default',
    expires_at: 'timestamptz',
    idle_expires_at: 'timestamptz',
    revoked_at: 'timestamptz null',
    revoke_reason: 'text null',
    ip: 'text null',
    user_agent: 'text null',
    amr: 'text[] default',
  },
  refresh_tokens: {
    token_hash: 'text',
    tenant_id: 'uuid',
    session_id: 'uuid',
    created_at: 'timestamptz default',
    used_at: 'timestamptz null',
  },
  one_time_tokens: {
    token_hash: 'text',
    tenant_id: 'uuid',
    user_id: 'uuid',
    purpose: 'text',
    created_at: 'timestamptz default',
    expires_at: 'timestamptz',
    used_at: 'timestamptz null',
    new_email: 'text null',
  },
  roles: {
    tenant_id: 'uuid',
    name: 'text',
    description: 'text null',
    permissions: 'text[] default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  mfa_totp: {
    user_id: 'uuid',
    tenant_id: 'uuid',
    secret_sealed: 'text',
    confirmed_at: 'timestamptz null',
    last_step: 'int8 default',
    created_at: 'timestamptz default',
  },
  mfa_backup_codes: {
    user_id: 'uuid',
    code_hash: 'text',
    tenant_id: 'uuid',
    created_at: 'timestamptz default',
    used_at: 'timestamptz null',
  },
  passkeys: {
    id: 'uuid',
    tenant_id: 'uuid',
    user_id: 'uuid',
    credential_id: 'text',
    public_key: 'bytea',
    counter: 'int8 default',
    transports: 'text[] default',
    device_type: 'text',
    backed_up: 'bool default',
    name: 'text null',
    created_at: 'timestamptz default',
    last_used_at: 'timestamptz null',
  },
  oauth_providers: {
    tenant_id: 'uuid',
    provider: 'text',
    client_id: 'text',
    client_secret_sealed: 'text',
    discovery_url: 'text null',
    scopes: 'text[] null',
    endpoints: 'jsonb default',
    enabled: 'bool default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  oauth_identities: {
    id: 'uuid',
    tenant_id: 'uuid',
    provider: 'text',
    subject: 'text',
    user_id: 'uuid',
    email: 'text null',
    created_at: 'timestamptz default',
  },
  webhook_endpoints: {
    id: 'uuid',
    tenant_id: 'uuid',
    url: 'text',
    description: 'text null',
    events: 'text[]',
    secret_sealed: 'text',
    disabled_at: 'timestamptz null',
    disabled_reason: 'text null',
    consecutive_failures: 'int4 default',
    failing_since: 'timestamptz null',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  webhook_deliveries: {
    id: 'uuid',
    tenant_id: 'uuid',
    endpoint_id: 'uuid',
    event_id: 'text',
    event_type: 'text',
    payload: 'text',
    status: 'text default',
    attempt: 'int4 default',
    next_attempt_at: 'timestamptz null',
    response_status: 'int4 null',
    response_excerpt: 'text null',
    last_error: 'text null',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  webhook_attempts: {
    id: 'uuid',
    tenant_id: 'uuid',
    delivery_id: 'uuid',
    attempt: 'int4',
    started_at: 'timestamptz',
    duration_ms: 'int4',
    outcome: 'text',
    response_status: 'int4 null',
    response_excerpt: 'text null',
    error: 'text null',
  },
  webhook_queue: {
    delivery_id: 'uuid',
    tenant_id: 'uuid',
    due_at: 'timestamptz',
  },
  oidc_applications: {
    id: 'uuid',
    tenant_id: 'uuid',
    client_id: 'text',
    name: 'text',
    type: 'text',
    secret_hash: 'text null',
    token_endpoint_auth_method: 'text default',
    redirect_uris: 'text[] default',
    post_logout_redirect_uris: 'text[] default',
    scopes: 'text[] default',
    resources: 'text[] default',
    jwks: 'jsonb null',
    first_party: 'bool default',
    disabled: 'bool default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  oidc_resources: {
    id: 'uuid',
    tenant_id: 'uuid',
    name: 'text',
    audience: 'text',
    scopes: 'jsonb default',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  oidc_consents: {
    tenant_id: 'uuid',
    user_id: 'uuid',
    application_id: 'uuid',
    scopes: 'text[] default',
    granted_at: 'timestamptz default',
  },
  oidc_payloads: {
    tenant_id: 'uuid',
    model: 'text',
    id: 'text',
    payload: 'jsonb',
    grant_id: 'text null',
    account_id: 'text null',
    user_code: 'text null',
    uid: 'text null',
    expires_at: 'timestamptz null',
    consumed_at: 'timestamptz null',
  },
} satisfies SchemaSpec<DB>;

/** The auth service's database handle, owner connection and transactions. */
export type Database = PlatformDatabase<DB>;
export type Db = PlatformDb<DB>;
export type Tx = PlatformTx<DB>;

export type TenantRow = Selectable<TenantsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type TotpRow = Selectable<MfaTotpTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
export type NewPasskey = Insertable<PasskeysTable>;
export type ProviderRow = Selectable<OauthProvidersTable>;
export type IdentityRow = Selectable<OauthIdentitiesTable>;
export type RoleRow = Selectable<RolesTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type ApplicationRow = Selectable<OidcApplicationsTable>;
export type ResourceRow = Selectable<OidcResourcesTable>;
