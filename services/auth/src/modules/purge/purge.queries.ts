/**
 * SQL of the purge: rows of ended sessions and spent tokens, deleted a batch at a time. All
 * but `listTenantIdsAfter` run inside `withTenant` (RLS): the purge works tenant by tenant as
 * the application role, like a request would, so it needs no owner that bypasses RLS.
 */
import type { ExpressionBuilder, ReferenceExpression } from 'kysely';
import type { Db, Tx } from '../../db/schema';
import { ago } from '@gatehouse/platform/purge';

/** A page of tenant ids after `after` (keyset, by id). The tenant directory has no RLS. */
export async function listTenantIdsAfter(admin: Db, after: string | null, limit: number): Promise<string[]> {
  let q = admin.selectFrom('tenants').select('id').orderBy('id').limit(limit);
  if (after !== null) q = q.where('id', '>', after);
  return (await q.execute()).map((r) => String(r.id));
}

/*
 * "Ended more than `retentionSec` ago": absolute expiry, idle expiry or revocation before the
 * cutoff. Such a session can never be used again (`findActiveSession` refuses it), so neither
 * can any of its refresh tokens. While a session has not ended, its used refresh tokens stay:
 * a reused one must still be recognised, and revoke the session.
 */

/**
 * "Ended before `cutoff`": any of `columns` (the moments after which the row can no longer be
 * used: expiry, idle expiry, revocation, use) is before it.
 */
function endedBefore<D, TB extends keyof D>(eb: ExpressionBuilder<D, TB>, cutoff: ReturnType<typeof ago>, columns: ReferenceExpression<D, TB>[]) {
  return eb.or(columns.map((c) => eb(c, '<', cutoff)));
}

/** Deletes up to `limit` refresh tokens of sessions that ended more than `retentionSec` ago. */
export async function deleteEndedSessionTokens(trx: Tx, tenantId: string, retentionSec: number, limit: number): Promise<number> {
  const cutoff = ago(retentionSec);
  const due = trx
    .selectFrom('refresh_tokens as r')
    .innerJoin('sessions as s', 's.id', 'r.session_id')
    .select('r.token_hash')
    .where('r.tenant_id', '=', tenantId)
    .where((eb) => endedBefore(eb, cutoff, ['s.expires_at', 's.idle_expires_at', 's.revoked_at']))
    .limit(limit)
    .forUpdate('r')
    .skipLocked();
  const r = await trx.deleteFrom('refresh_tokens').where('token_hash', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Deletes up to `limit` sessions that ended more than `retentionSec` ago. Their refresh tokens
 * go first, in batches, by {@link deleteEndedSessionTokens}: the foreign key's cascade only
 * catches a token added in between, so no statement deletes thousands of rows.
 */
export async function deleteEndedSessions(trx: Tx, tenantId: string, retentionSec: number, limit: number): Promise<number> {
  const cutoff = ago(retentionSec);
  const due = trx
    .selectFrom('sessions')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where((eb) => endedBefore(eb, cutoff, ['expires_at', 'idle_expires_at', 'revoked_at']))
    .limit(limit)
    .forUpdate()
    .skipLocked();
  const r = await trx.deleteFrom('sessions').where('id', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Deletes up to `limit` one-time tokens (verification, reset) used or expired more than `retentionSec` ago. */
export async function deleteSpentOneTimeTokens(trx: Tx, tenantId: string, retentionSec: number, limit: number): Promise<number> {
  const cutoff = ago(retentionSec);
  const due = trx
    .selectFrom('one_time_tokens')
    .select('token_hash')
    .where('tenant_id', '=', tenantId)
    .where((eb) => endedBefore(eb, cutoff, ['expires_at', 'used_at']))
    .limit(limit)
    .forUpdate()
    .skipLocked();
  const r = await trx.deleteFrom('one_time_tokens').where('token_hash', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}
