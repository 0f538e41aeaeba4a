-- WebAuthn credentials (passkeys). Tenant-owned, under RLS. The credential id is unique per
-- tenant; the public key is the COSE key as the authenticator returned it.

create table passkeys (
  id uuid primary key,
  tenant_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  -- base64url credential id as the browser reports it
  credential_id text not null,
  public_key bytea not null,
  counter bigint not null default 0,
  transports text[] not null default '{}',
  device_type text not null,
  backed_up boolean not null default false,
  name text,
  created_at timestamptz not null default now(),
  last_used_at timestamptz
);
create unique index passkeys_tenant_credential on passkeys (tenant_id, credential_id);
create index passkeys_user on passkeys (tenant_id, user_id);
alter table passkeys enable row level security;
alter table passkeys force row level security;
create policy tenant_isolation on passkeys using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on passkeys to gatehouse_app;
