-- Social login: per-tenant provider configuration (client secret sealed with the master
-- secret) and the identities linked to users, keyed by provider + subject. Both under RLS.

create table oauth_providers (
  tenant_id uuid not null,
  provider text not null check (provider in ('google', 'facebook', 'line', 'github', 'oidc')),
  client_id text not null,
  client_secret_sealed text not null,
  -- OpenID discovery URL (generic OIDC), or null for the provider's default
  discovery_url text,
  scopes text[],
  -- overrides of issuer / authorization / token / userinfo / jwks endpoints
  endpoints jsonb not null default '{}'::jsonb,
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, provider)
);
alter table oauth_providers enable row level security;
alter table oauth_providers force row level security;
create policy tenant_isolation on oauth_providers using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oauth_providers to gatehouse_app;

create table oauth_identities (
  id uuid primary key,
  tenant_id uuid not null,
  provider text not null,
  subject text not null,
  user_id uuid not null references users (id) on delete cascade,
  email text,
  created_at timestamptz not null default now()
);
create unique index oauth_identities_subject on oauth_identities (tenant_id, provider, subject);
create index oauth_identities_user on oauth_identities (tenant_id, user_id);
alter table oauth_identities enable row level security;
alter table oauth_identities force row level security;
create policy tenant_isolation on oauth_identities using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on oauth_identities to gatehouse_app;
