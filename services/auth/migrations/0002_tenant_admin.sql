-- Tenant administration (superadmin API, `gatehouse tenant`): when a tenant last changed, an
-- index for the admin listing (oldest first, keyset pages), and the rules the service enforces
-- repeated in the database, so a row written any other way cannot break host-based resolution.
alter table tenants add column updated_at timestamptz not null default now();
create index tenants_created on tenants (created_at, id);
alter table tenants add constraint tenants_slug_dns_label check (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
alter table tenants add constraint tenants_name_length check (char_length(name) between 1 and 100);
alter table tenants add constraint tenants_settings_object check (jsonb_typeof(settings) = 'object');
