-- Outgoing webhooks (issue 16): a tenant's endpoints (signing secret sealed with the master
-- secret: signing needs the plaintext), one delivery per (endpoint, event), every attempt,
-- and the delivery worker's queue. All under row-level security.

create table webhook_endpoints (
  id uuid primary key,
  tenant_id uuid not null,
  url text not null,
  description text,
  -- NATS subject patterns (`user.events.*`, `auth.events.>`)
  events text[] not null,
  secret_sealed text not null,
  disabled_at timestamptz,
  -- 'admin' (PATCH) or 'failures' (the worker gave up on it)
  disabled_reason text,
  -- failed attempts in a row, and since when (null after a success)
  consecutive_failures int not null default 0,
  failing_since timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_endpoints_tenant on webhook_endpoints (tenant_id, created_at, id);
alter table webhook_endpoints enable row level security;
alter table webhook_endpoints force row level security;
create policy tenant_isolation on webhook_endpoints using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on webhook_endpoints to gatehouse_app;

create table webhook_deliveries (
  id uuid primary key,
  tenant_id uuid not null,
  endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
  -- the CloudEvent id: the webhook-id header of every attempt
  event_id text not null,
  event_type text not null,
  -- the CloudEvent JSON exactly as it is signed and sent
  payload text not null,
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  -- attempts made so far
  attempt int not null default 0,
  next_attempt_at timestamptz,
  response_status int,
  response_excerpt text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (endpoint_id, event_id)
);
create index webhook_deliveries_endpoint on webhook_deliveries (tenant_id, endpoint_id, created_at desc, id desc);
alter table webhook_deliveries enable row level security;
alter table webhook_deliveries force row level security;
create policy tenant_isolation on webhook_deliveries using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on webhook_deliveries to gatehouse_app;

create table webhook_attempts (
  id uuid primary key,
  tenant_id uuid not null,
  delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
  attempt int not null,
  started_at timestamptz not null,
  duration_ms int not null,
  outcome text not null check (outcome in ('succeeded', 'failed')),
  response_status int,
  response_excerpt text,
  error text
);
create index webhook_attempts_delivery on webhook_attempts (tenant_id, delivery_id, attempt);
alter table webhook_attempts enable row level security;
alter table webhook_attempts force row level security;
create policy tenant_isolation on webhook_attempts using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on webhook_attempts to gatehouse_app;

-- The worker's schedule: one row per delivery that still has an attempt to make, due at
-- `due_at`. The delivery worker claims due rows of every tenant on the owner connection
-- (cross-tenant by nature, like the refresh-token lookup: `FOR UPDATE SKIP LOCKED`, then
-- `due_at` pushed ahead by a lease) and records each attempt inside `withTenant`.
create table webhook_queue (
  delivery_id uuid primary key references webhook_deliveries (id) on delete cascade,
  tenant_id uuid not null,
  due_at timestamptz not null
);
create index webhook_queue_due on webhook_queue (due_at);
alter table webhook_queue enable row level security;
alter table webhook_queue force row level security;
create policy tenant_isolation on webhook_queue using (tenant_id = app_tenant()) with check (tenant_id = app_tenant());
grant select, insert, update, delete on webhook_queue to gatehouse_app;
