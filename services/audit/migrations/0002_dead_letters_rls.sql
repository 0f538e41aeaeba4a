-- Dead letters come under row-level security like every other table with a tenant_id
-- (issue 9, defect 9: 0001 left this one without RLS, and a table the application role may
-- not touch today is one grant away from leaking tomorrow).
--
-- The old text `tenant_id` held whatever the message claimed, UUID or not; it is kept,
-- untrusted, as `claimed_tenant` for operators. The new `tenant_id` is the tenant the row is
-- filed under: the claimed one when it is a UUID (a message naming a tenant is that
-- tenant's business, and a forged one only files a dead letter there), else the nil UUID
-- 00000000-0000-0000-0000-000000000000, "unattributed", which no tenant ever has (tenant ids
-- are random v4 UUIDs). Parking runs in `withTenant` as the application role, so the
-- policy holds for the writer too; operators read every tenant's dead letters as a role
-- that bypasses RLS (a superuser or the DBA), or one tenant's through `withTenant`.
alter table dead_letters rename column tenant_id to claimed_tenant;
alter table dead_letters add column tenant_id uuid;
update dead_letters set tenant_id = lower(claimed_tenant)::uuid
  where claimed_tenant ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
update dead_letters set tenant_id = '00000000-0000-0000-0000-000000000000' where tenant_id is null;
alter table dead_letters alter column tenant_id set not null;
create index dead_letters_tenant_received on dead_letters (tenant_id, received_at);

alter table dead_letters enable row level security;
alter table dead_letters force row level security;
create policy tenant_isolation on dead_letters using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
-- insert ... on conflict (event_id) do nothing returning id: insert, and select for returning
grant select, insert on dead_letters to gatehouse_app;
