-- Indexes for the purge (issue 9, defect 12): it deletes ended sessions and spent one-time
-- tokens tenant by tenant (under RLS), a small batch at a time; without these, each batch
-- would scan the whole table. `expires_at` never changes after insert, so refreshes (which
-- move idle_expires_at and last_used_at) stay HOT updates. Revoked and idle-expired sessions
-- are found within the tenant's range of the same index.
create index sessions_tenant_expires on sessions (tenant_id, expires_at);
create index one_time_tokens_tenant_expires on one_time_tokens (tenant_id, expires_at);
