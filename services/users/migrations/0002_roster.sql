-- Event rosters (issue 12, API.md "Attendance"): the members an event expects, so its
-- attendance report shows each of them as present, late or absent. A deleted event or member
-- takes its roster rows with it.
create table event_roster (
  tenant_id uuid not null,
  event_id uuid not null,
  user_id uuid not null,
  added_at timestamptz not null default now(),
  primary key (tenant_id, event_id, user_id),
  foreign key (tenant_id, event_id) references events (tenant_id, id) on delete cascade,
  foreign key (tenant_id, user_id) references profiles (tenant_id, id) on delete cascade
);
create index event_roster_by_user on event_roster (tenant_id, user_id);
alter table event_roster enable row level security;
alter table event_roster force row level security;
create policy tenant_isolation on event_roster using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on event_roster to gatehouse_app;
