/** Sessions and refresh tokens. All but `findRefreshTenant` run inside `withTenant` (RLS). */
import { destroyByAccounts } from '../oidc/oidc.queries';
import { sql } from 'kysely';
import { preparedQuery } from '@gatehouse/platform/prepared';
import { allColumns } from '@gatehouse/platform/schema';
import { columns, type Db, type SessionRow, type TenantRow, type Tx, type UserRow } from '../../db/schema';

export type { SessionRow } from '../../db/schema';

const secs = (n: number) => sql<Date>`now() + make_interval(secs => ${n})`;

const insertSessionQuery = preparedQuery(
  (db: Db, p: { id: string; tenant_id: string; user_id: string; ip: string | null; user_agent: string | null; amr: string[]; absoluteSec: number; idleSec: number }) =>
    db
      .insertInto('sessions')
      .values({
        id: p.id,
        tenant_id: p.tenant_id,
        user_id: p.user_id,
        ip: p.ip,
        user_agent: p.user_agent,
        amr: p.amr,
        expires_at: secs(p.absoluteSec),
        idle_expires_at: secs(p.idleSec),
      })
      // the columns spelled out, not `returning *`: a named statement (platform/prepared.ts)
      .returning(allColumns(columns.sessions)),
);

/** Inserts a session with absolute and idle expiries computed by the database clock. */
export async function insertSession(
  trx: Tx,
  s: { id: string; tenant_id: string; user_id: string; ip: string | null; user_agent: string | null; amr: string[]; absoluteSec: number; idleSec: number },
): Promise<SessionRow> {
  const [row] = await insertSessionQuery.run(trx, { ...s, idleSec: Math.min(s.idleSec, s.absoluteSec) });
  if (!row) throw new Error('insertSession: no row returned');
  return row;
}

const insertRefreshQuery = preparedQuery((db: Db, p: { token_hash: string; tenant_id: string; session_id: string }) =>
  db.insertInto('refresh_tokens').values({ token_hash: p.token_hash, tenant_id: p.tenant_id, session_id: p.session_id }),
);

/** Stores a refresh token by its sha256 only. */
export async function insertRefreshToken(trx: Tx, t: { token_hash: string; tenant_id: string; session_id: string }): Promise<void> {
  await insertRefreshQuery.run(trx, t);
}

/**
 * Which tenant and session a refresh token hash belongs to. Runs on the owner connection:
 * the hash is globally unique and the tenant is not known before this lookup.
 */
export async function findRefreshTenant(admin: Db, tokenHash: string): Promise<{ tenant_id: string; session_id: string } | undefined> {
  return admin.selectFrom('refresh_tokens').select(['tenant_id', 'session_id']).where('token_hash', '=', tokenHash).executeTakeFirst();
}

/**
 * The refresh token's session id with its tenant's row, in one round trip (the token lookup and
 * the tenant resolve used to be two). Owner connection, as {@link findRefreshTenant}.
 */
export async function findRefreshWithTenant(admin: Db, tokenHash: string): Promise<(TenantRow & { session_id: string }) | undefined> {
  return (await refreshWithTenantQuery.run(admin, { tokenHash }))[0];
}

const refreshWithTenantQuery = preparedQuery((db: Db, p: { tokenHash: string }) =>
  db
    .selectFrom('refresh_tokens as rt')
    .innerJoin('tenants as t', 't.id', 'rt.tenant_id')
    // the columns spelled out, not `"t".*`: a named statement (platform/prepared.ts)
    .select(allColumns(columns.tenants, 't'))
    .select('rt.session_id')
    .where('rt.token_hash', '=', p.tokenHash),
);

/** What a successful one-statement rotation returns: the user (with permissions) and the session's expiries. */
export type RotatedRow = UserRow & { permissions: string[]; s_amr: string[]; s_expires_at: Date; s_idle_expires_at: Date };

/**
 * The whole successful rotation as ONE statement (data-modifying CTEs): mark the presented token
 * used (only if unused), extend the session's idle expiry when the session is active and its
 * user not disabled, insert the next token's hash for that session, and read the user with the
 * permissions of their roles. PostgreSQL runs every data-modifying CTE exactly once whether or
 * not the final SELECT reads it. No row means "not the plain case" (reused or unknown token,
 * inactive session, disabled user): the caller rolls back and takes the statement-by-statement
 * path, which handles those cases (they are rare, so their extra round trips do not matter).
 */
export async function rotateRefreshToken(
  trx: Tx,
  r: { tokenHash: string; nextHash: string; idleSec: number; ip: string | null },
): Promise<RotatedRow | undefined> {
  return (await rotateQuery.run(trx, r))[0];
}

// compiled once (platform/prepared.ts): building and compiling this statement was ~12% of the
// event loop's work per refresh in a CPU profile
const rotateQuery = preparedQuery((db: Db, r: { tokenHash: string; nextHash: string; idleSec: number; ip: string | null }) =>
  db
    .with('consumed', (qb) =>
      qb.updateTable('refresh_tokens').set({ used_at: sql<Date>`now()` }).where('token_hash', '=', r.tokenHash).where('used_at', 'is', null).returning('session_id'),
    )
    .with('touched', (qb) =>
      qb
        .updateTable('sessions')
        .from('users')
        .set({
          last_used_at: sql<Date>`now()`,
          idle_expires_at: sql<Date>`least(sessions.expires_at, now() + make_interval(secs => ${r.idleSec}))`,
          ip: r.ip,
        })
        .whereRef('users.id', '=', 'sessions.user_id')
        .where('users.disabled_at', 'is', null)
        .where('sessions.id', 'in', (eb) => eb.selectFrom('consumed').select('consumed.session_id'))
        .where('sessions.revoked_at', 'is', null)
        .where('sessions.expires_at', '>', sql<Date>`now()`)
        .where('sessions.idle_expires_at', '>', sql<Date>`now()`)
        .returning(['sessions.id', 'sessions.tenant_id', 'sessions.user_id', 'sessions.amr', 'sessions.expires_at', 'sessions.idle_expires_at']),
    )
    .with('inserted', (qb) =>
      qb
        .insertInto('refresh_tokens')
        .columns(['token_hash', 'tenant_id', 'session_id'])
        .expression((eb) => eb.selectFrom('touched').select([eb.val(r.nextHash).as('token_hash'), 'touched.tenant_id', 'touched.id']))
        .returning('session_id'),
    )
    .selectFrom('touched')
    .innerJoin('users as u', 'u.id', 'touched.user_id')
    .innerJoin('inserted', 'inserted.session_id', 'touched.id')
    // the columns spelled out, not `"u".*`: a named statement (platform/prepared.ts)
    .select(allColumns(columns.users, 'u'))
    .select([
      'touched.amr as s_amr',
      'touched.expires_at as s_expires_at',
      'touched.idle_expires_at as s_idle_expires_at',
      sql<string[]>`coalesce((select array_agg(distinct p order by p) from roles r, unnest(r.permissions) p where r.name = any(u.roles)), '{}')`.as('permissions'),
    ]),
);

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
