/** Sessions and refresh tokens. All but `findRefreshTenant` run inside `withTenant` (RLS). */
import { destroyByAccounts } from '../oidc/oidc.queries';
import { sql } from 'kysely';
import type { Db, SessionRow, Tx } from '../../db/schema';

export type { SessionRow } from '../../db/schema';

const secs = (n: number) => sql<Date>`now() + make_interval(secs => ${n})`;

/** Inserts a session with absolute and idle expiries computed by the database clock. */
export async function insertSession(
  trx: Tx,
  s: { id: string; tenant_id: string; user_id: string; ip: string | null; user_agent: string | null; amr: string[]; absoluteSec: number; idleSec: number },
): Promise<SessionRow> {
  return trx
    .insertInto('sessions')
    .values({
      id: s.id,
      tenant_id: s.tenant_id,
      user_id: s.user_id,
      ip: s.ip,
      user_agent: s.user_agent,
      amr: s.amr,
      expires_at: secs(s.absoluteSec),
      idle_expires_at: secs(Math.min(s.idleSec, s.absoluteSec)),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Stores a refresh token by its sha256 only. */
export async function insertRefreshToken(trx: Tx, t: { token_hash: string; tenant_id: string; session_id: string }): Promise<void> {
  await trx.insertInto('refresh_tokens').values(t).execute();
}

/**
 * Which tenant and session a refresh token hash belongs to. Runs on the owner connection:
 * the hash is globally unique and the tenant is not known before this lookup.
 */
export async function findRefreshTenant(admin: Db, tokenHash: string): Promise<{ tenant_id: string; session_id: string } | undefined> {
  return admin.selectFrom('refresh_tokens').select(['tenant_id', 'session_id']).where('token_hash', '=', tokenHash).executeTakeFirst();
}

/**
 * Marks a refresh token used if it is not yet: the conditional UPDATE is atomic, so of several
 * concurrent refreshes with one token exactly one gets the row back.
 */
export async function consumeRefreshToken(trx: Tx, tokenHash: string): Promise<string | undefined> {
  const r = await trx
    .updateTable('refresh_tokens')
    .set({ used_at: sql`now()` })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .returning('session_id')
    .executeTakeFirst();
  return r?.session_id;
}

/** The session when it is neither revoked nor past its idle or absolute expiry. */
export async function findActiveSession(trx: Tx, id: string): Promise<SessionRow | undefined> {
  return trx
    .selectFrom('sessions')
    .selectAll()
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .where('idle_expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
}

/** Extends the idle expiry (never past the absolute one) on a refresh. */
export async function touchSession(trx: Tx, id: string, idleSec: number, ip: string | null): Promise<SessionRow> {
  return trx
    .updateTable('sessions')
    .set({ last_used_at: sql<Date>`now()`, idle_expires_at: sql<Date>`least(expires_at, now() + make_interval(secs => ${idleSec}))`, ip })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Revokes sessions not yet revoked; returns their ids. */
export async function revokeSessions(
  trx: Tx,
  where: { userId?: string; sessionId?: string; exceptSessionId?: string },
  reason: string,
): Promise<Array<{ id: string; user_id: string }>> {
  let q = trx.updateTable('sessions').set({ revoked_at: sql<Date>`now()`, revoke_reason: reason }).where('revoked_at', 'is', null);
  if (where.userId) q = q.where('user_id', '=', where.userId);
  if (where.sessionId) q = q.where('id', '=', where.sessionId);
  if (where.exceptSessionId) q = q.where('id', '!=', where.exceptSessionId);
  const rows = await q.returning(['id', 'user_id']).execute();
  // Signing out of Gatehouse also ends the user's grants at the OpenID provider (their
  // refresh and access tokens, codes, and the provider's single sign-on session), in the
  // same transaction: introspection answers active:false as soon as this commits.
  const users = new Set(rows.map((r) => r.user_id));
  if (where.userId) users.add(where.userId);
  await destroyByAccounts(trx, [...users]);
  return rows;
}

/** A user's sessions that can still be used, newest first. */
export async function listActiveSessions(trx: Tx, userId: string): Promise<SessionRow[]> {
  return trx
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .where('idle_expires_at', '>', sql<Date>`now()`)
    .orderBy('created_at', 'desc')
    .limit(500)
    .execute();
}
