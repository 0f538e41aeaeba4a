-- The audit log: one hash chain per tenant, append-only.
create table entries (
  id uuid primary key,
  tenant_id uuid not null,
  -- position in the tenant's chain, gapless from 1 (appends are serialised per tenant)
  seq bigint not null,
  -- the CloudEvent id: a redelivered or re-published event never makes a second entry
  event_id text not null,
  type text not null,
  actor_id text,
  subject_id text,
  ip text,
  user_agent text,
  request_id text,
  data jsonb not null,
  occurred_at timestamptz not null,
  recorded_at timestamptz not null default now(),
  prev_hash text not null,
  hash text not null,
  constraint entries_event_id_key unique (event_id),
  constraint entries_tenant_seq_key unique (tenant_id, seq)
);
create index entries_tenant_type on entries (tenant_id, type, seq);
create index entries_tenant_actor on entries (tenant_id, actor_id, seq);
create index entries_tenant_subject on entries (tenant_id, subject_id, seq);
create index entries_tenant_time on entries (tenant_id, occurred_at);

alter table entries enable row level security;
alter table entries force row level security;
create policy tenant_isolation on entries using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
-- No UPDATE or DELETE for the application role: entries are append-only.
grant select, insert on entries to gatehouse_app;

-- Even the owner cannot change or remove an entry without first disabling this trigger
-- (which leaves a trace in the DDL log and is what GET /audit/verify then detects).
create function entries_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit entries are append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end $$;
create trigger entries_append_only before update or delete on entries
  for each row execute function entries_append_only();
create trigger entries_no_truncate before truncate on entries
  for each statement execute function entries_append_only();

-- Messages that can never become entries (not a CloudEvent, no tenant UUID, data the
-- database refuses). Parked with the reason so the stream keeps flowing; the tenant is not
-- known (or not trusted), so this table is not tenant-owned and only the owner reads it.
create table dead_letters (
  id uuid primary key,
  event_id text,
  tenant_id text,
  subject text,
  reason text not null,
  payload text not null,
  received_at timestamptz not null default now()
);
create unique index dead_letters_event_id on dead_letters (event_id) where event_id is not null;
create index dead_letters_received on dead_letters (received_at);
