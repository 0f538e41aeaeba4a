-- Auth service schema: tenants and signing keys (global), users, sessions, refresh tokens and
-- one-time tokens (tenant-owned, under row-level security).

create table tenants (
  id uuid primary key,
  slug text not null unique,
  name text not null,
  status text not null default 'active' check (status in ('active', 'disabled')),
  settings jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
-- tenants is global (not tenant-owned): the app role may read it inside tenant transactions
grant select on tenants to gatehouse_app;
insert into tenants (id, slug, name) values ('00000000-0000-4000-8000-000000000001', 'default', 'Default');

create table signing_keys (
  kid text primary key,
  alg text not null,
  public_jwk jsonb not null,
  -- the private JWK sealed with the master secret (AES-256-GCM), never stored in clear
  private_sealed text not null,
  created_at timestamptz not null default now(),
  retired_at timestamptz
);

create table users (
  id uuid primary key,
  tenant_id uuid not null references tenants (id),
  email text not null,
  username text,
  display_name text,
  password_hash text,
  roles text[] not null default array['user'],
  email_verified_at timestamptz,
  disabled_at timestamptz,
  mfa_enabled boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_login_at timestamptz
);
-- email and username are unique per tenant, case-insensitively
create unique index users_tenant_email on users (tenant_id, lower(email));
create unique index users_tenant_username on users (tenant_id, lower(username)) where username is not null;
create index users_tenant_created on users (tenant_id, created_at, id);
alter table users enable row level security;
alter table users force row level security;
create policy tenant_isolation on users using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on users to gatehouse_app;

create table sessions (
  id uuid primary key,
  tenant_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now(),
  expires_at timestamptz not null,
  idle_expires_at timestamptz not null,
  revoked_at timestamptz,
  revoke_reason text,
  ip text,
  user_agent text,
  amr text[] not null default array['pwd']
);
create index sessions_user on sessions (tenant_id, user_id) where revoked_at is null;
alter table sessions enable row level security;
alter table sessions force row level security;
create policy tenant_isolation on sessions using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on sessions to gatehouse_app;

-- Refresh tokens: only the sha256 of the token is stored. Used rows are kept (until the
-- session goes) so a replayed token is recognised as reuse, not as unknown.
create table refresh_tokens (
  token_hash text primary key,
  tenant_id uuid not null,
  session_id uuid not null references sessions (id) on delete cascade,
  created_at timestamptz not null default now(),
  used_at timestamptz
);
create index refresh_tokens_session on refresh_tokens (session_id);
alter table refresh_tokens enable row level security;
alter table refresh_tokens force row level security;
create policy tenant_isolation on refresh_tokens using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on refresh_tokens to gatehouse_app;

-- Email verification and password reset tokens: sha256 only, single use, short expiry.
create table one_time_tokens (
  token_hash text primary key,
  tenant_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'reset_password')),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index one_time_tokens_user on one_time_tokens (user_id, purpose);
alter table one_time_tokens enable row level security;
alter table one_time_tokens force row level security;
create policy tenant_isolation on one_time_tokens using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on one_time_tokens to gatehouse_app;
