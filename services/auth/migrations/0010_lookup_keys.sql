-- Lookups that an index can serve under row-level security (issue 13, the scale bench).
--
-- `lower(email)` is not LEAKPROOF, so when RLS adds `tenant_id = app_tenant()` PostgreSQL must
-- evaluate the policy first and may not use a condition on `lower(email)` as an index condition:
-- `users_tenant_email (tenant_id, lower(email))` served only its tenant_id column, and a login
-- read every user of its tenant (EXPLAIN on 300,000 users, 60% in one tenant: Seq Scan, 0.8 s).
-- The same held for the username login and the admin search. These columns hold the same lower() values, computed by
-- the database on every write; comparisons on them use only leakproof operators (text =, >=, <=),
-- so the indexes below are usable inside withTenant. The "C" collation makes a prefix a
-- contiguous byte range of the index (the admin prefix search).
alter table users add column email_key text collate "C" not null generated always as (lower(email)) stored;
alter table users add column username_key text collate "C" generated always as (lower(username)) stored;
create index users_tenant_email_key on users (tenant_id, email_key);
create index users_tenant_username_key on users (tenant_id, username_key);
