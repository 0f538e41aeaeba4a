-- Second factors: one TOTP secret per user (sealed with the master secret, never stored in
-- clear) and single-use backup codes (keyed HMAC only). Both tenant-owned, under RLS.

create table mfa_totp (
  user_id uuid primary key references users (id) on delete cascade,
  tenant_id uuid not null,
  -- AES-256-GCM sealed base32 secret (createSecretBox with the master secret)
  secret_sealed text not null,
  -- null until the first code is confirmed; only confirmed secrets count as a factor
  confirmed_at timestamptz,
  -- the last accepted RFC 6238 time step: a code is accepted only for a later step, which a
  -- conditional UPDATE enforces atomically (replay and parallel copies succeed once)
  last_step bigint not null default -1,
  created_at timestamptz not null default now()
);
alter table mfa_totp enable row level security;
alter table mfa_totp force row level security;
create policy tenant_isolation on mfa_totp using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on mfa_totp to gatehouse_app;

create table mfa_backup_codes (
  user_id uuid not null references users (id) on delete cascade,
  -- HMAC-SHA-256 of the normalised code under a key derived from the master secret
  code_hash text not null,
  tenant_id uuid not null,
  created_at timestamptz not null default now(),
  used_at timestamptz,
  primary key (user_id, code_hash)
);
alter table mfa_backup_codes enable row level security;
alter table mfa_backup_codes force row level security;
create policy tenant_isolation on mfa_backup_codes using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on mfa_backup_codes to gatehouse_app;
