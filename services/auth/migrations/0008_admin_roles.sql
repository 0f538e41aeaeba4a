-- Administration (issue 12): custom roles per tenant, and the one-time tokens of an email
-- change (which carry the new address until it is confirmed).

-- A tenant's own roles. The built-in roles (user, organizer, admin, superadmin) are not rows:
-- they are fixed by the code and carry no permissions. A user's `roles` holds names of both.
create table roles (
  tenant_id uuid not null references tenants (id),
  name text not null check (name ~ '^[a-z][a-z0-9_.:-]{0,62}$' and name not in ('user', 'organizer', 'admin', 'superadmin')),
  description text check (char_length(description) <= 500),
  permissions text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, name)
);
alter table roles enable row level security;
alter table roles force row level security;
create policy tenant_isolation on roles using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on roles to gatehouse_app;
-- the users holding a role (role edits and deletions find them)
create index users_roles on users using gin (roles);

-- Email change: a token sent to the new address; the address travels with the token.
alter table one_time_tokens drop constraint one_time_tokens_purpose_check;
alter table one_time_tokens add constraint one_time_tokens_purpose_check check (purpose in ('verify_email', 'reset_password', 'change_email'));
alter table one_time_tokens add column new_email text;
