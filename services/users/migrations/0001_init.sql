-- The users service: profiles (a replica of identities fed by user.events.*, plus the
-- profile fields this service owns), events (meetings, classes) and their attendance.
-- Every tenant-owned table is under row-level security (see packages/platform/src/db.ts).

create table profiles (
  tenant_id uuid not null,
  id uuid not null,
  email text not null,
  username text,
  display_name text,
  bio text,
  location text,
  website text,
  -- storage key (avatars/<tenant>/<user>/<random>.<ext>) and the public object id of the URL
  avatar_key text,
  avatar_object text,
  -- time of the last identity event applied: an older event arriving late changes nothing
  identity_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
create unique index profiles_avatar_object on profiles (tenant_id, avatar_object) where avatar_object is not null;
alter table profiles enable row level security;
alter table profiles force row level security;
create policy tenant_isolation on profiles using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on profiles to gatehouse_app;

-- Users deleted by the identity service: a created/updated event redelivered after the
-- deletion must not bring the profile back.
create table deleted_users (
  tenant_id uuid not null,
  id uuid not null,
  deleted_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
alter table deleted_users enable row level security;
alter table deleted_users force row level security;
create policy tenant_isolation on deleted_users using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on deleted_users to gatehouse_app;

create table events (
  tenant_id uuid not null,
  id uuid not null,
  title text not null,
  description text,
  location text,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  late_after_minutes int not null,
  created_by uuid not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  constraint events_ends_after_start check (ends_at > starts_at),
  constraint events_late_after_minutes check (late_after_minutes between 0 and 10080)
);
create index events_by_start on events (tenant_id, starts_at, id);
alter table events enable row level security;
alter table events force row level security;
create policy tenant_isolation on events using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on events to gatehouse_app;

-- One row per member and event: the primary key is what makes 20 simultaneous scans of one
-- member create exactly one record.
create table attendance (
  tenant_id uuid not null,
  event_id uuid not null,
  user_id uuid not null,
  status text not null constraint attendance_status check (status in ('present', 'late')),
  checked_in_at timestamptz not null,
  checked_out_at timestamptz,
  checked_in_by uuid not null,
  checked_out_by uuid,
  primary key (tenant_id, event_id, user_id),
  foreign key (tenant_id, event_id) references events (tenant_id, id) on delete cascade,
  -- a deleted user's attendance goes with the profile (it is their personal data)
  foreign key (tenant_id, user_id) references profiles (tenant_id, id) on delete cascade
);
create index attendance_by_user on attendance (tenant_id, user_id, checked_in_at desc, event_id);
create index attendance_by_event on attendance (tenant_id, event_id, checked_in_at, user_id);
alter table attendance enable row level security;
alter table attendance force row level security;
create policy tenant_isolation on attendance using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on attendance to gatehouse_app;

-- Storage objects no longer referenced (a replaced or removed avatar), recorded in the same
-- transaction that dropped the reference and deleted by a sweeper after the commit: storage
-- is not transactional, and this way no object is deleted while still referenced nor left
-- behind when a delete fails. Holds only keys, no tenant data, like the outbox.
create table storage_deletions (
  key text primary key,
  created_at timestamptz not null default now(),
  attempts int not null default 0,
  last_error text
);
grant insert on storage_deletions to gatehouse_app;
