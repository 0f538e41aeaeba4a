-- Gatehouse as an OpenID Connect provider (issue 11): applications (OAuth clients), API
-- resources, remembered consents, and the oidc-provider storage (sessions, grants, codes,
-- tokens, interactions...). All tenant-owned, under RLS.

create table oidc_applications (
  id uuid primary key,
  tenant_id uuid not null,
  client_id text not null,
  name text not null,
  type text not null check (type in ('web', 'spa', 'native', 'm2m')),
  -- sha256 of the client secret (a 256-bit random value: a fast hash is enough); null for public clients
  secret_hash text,
  -- client_secret_basic | client_secret_post | private_key_jwt (public clients: none)
  token_endpoint_auth_method text not null default 'client_secret_basic'
    check (token_endpoint_auth_method in ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
  redirect_uris text[] not null default '{}',
  post_logout_redirect_uris text[] not null default '{}',
  scopes text[] not null default '{}',
  resources text[] not null default '{}',
  -- a JWK set for private_key_jwt client authentication
  jwks jsonb,
  first_party boolean not null default false,
  disabled boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index oidc_applications_client on oidc_applications (tenant_id, client_id);
alter table oidc_applications enable row level security;
alter table oidc_applications force row level security;
create policy tenant_isolation on oidc_applications using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oidc_applications to gatehouse_app;

create table oidc_resources (
  id uuid primary key,
  tenant_id uuid not null,
  name text not null,
  audience text not null,
  -- [{name, description?}]
  scopes jsonb not null default '[]'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index oidc_resources_audience on oidc_resources (tenant_id, audience);
alter table oidc_resources enable row level security;
alter table oidc_resources force row level security;
create policy tenant_isolation on oidc_resources using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oidc_resources to gatehouse_app;

create table oidc_consents (
  tenant_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  application_id uuid not null references oidc_applications (id) on delete cascade,
  scopes text[] not null default '{}',
  granted_at timestamptz not null default now(),
  primary key (tenant_id, user_id, application_id)
);
alter table oidc_consents enable row level security;
alter table oidc_consents force row level security;
create policy tenant_isolation on oidc_consents using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oidc_consents to gatehouse_app;

-- oidc-provider's models, one row per stored artifact (model + id); the lookup columns are
-- copied out of the payload so revocation by grant or account and the device/interaction
-- lookups are indexed.
create table oidc_payloads (
  tenant_id uuid not null,
  model text not null,
  id text not null,
  payload jsonb not null,
  grant_id text,
  account_id text,
  user_code text,
  uid text,
  expires_at timestamptz,
  consumed_at timestamptz,
  primary key (tenant_id, model, id)
);
create index oidc_payloads_grant on oidc_payloads (tenant_id, grant_id) where grant_id is not null;
create index oidc_payloads_account on oidc_payloads (tenant_id, account_id) where account_id is not null;
create index oidc_payloads_user_code on oidc_payloads (tenant_id, user_code) where user_code is not null;
create index oidc_payloads_uid on oidc_payloads (tenant_id, uid) where uid is not null;
create index oidc_payloads_expires on oidc_payloads (expires_at) where expires_at is not null;
alter table oidc_payloads enable row level security;
alter table oidc_payloads force row level security;
create policy tenant_isolation on oidc_payloads using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oidc_payloads to gatehouse_app;
