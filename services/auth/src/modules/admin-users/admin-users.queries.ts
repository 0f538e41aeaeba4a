/** Admin listing of users (inside `withTenant`: RLS keeps it to the admin's tenant). */
import { sql } from 'kysely';
import type { Tx, UserRow } from '../../db/schema';

/** Escapes LIKE wildcards so a search for "a_b%" is literal. */
function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Users ordered by (created_at, id), after the cursor, matching `query` in email or username:
 * anywhere (`contains`, the default; reads every user of the tenant when few match) or at the
 * start (`prefix`: a range of the `email_key`/`username_key` indexes, usable under RLS because
 * text >= and <= are leakproof, where LIKE and lower() are not; migration 0010).
 */
export async function searchUsers(
  trx: Tx,
  opts: { query?: string; match?: 'contains' | 'prefix'; role?: string; status?: 'active' | 'disabled'; verified?: boolean; after?: { ts: string; id: string }; limit: number },
): Promise<Array<UserRow & { cursor_ts: string }>> {
  let q = trx
    .selectFrom('users')
    .selectAll()
    .select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursor_ts'));
  if (opts.query && opts.match === 'prefix') {
    // [p, p || U+10FFFF] in byte order ("C") holds every key starting with p (U+10FFFF, the
    // highest code point, is a noncharacter no address or username contains)
    const from = sql<string>`lower(${opts.query}) collate "C"`;
    const to = sql<string>`(lower(${opts.query}) || chr(1114111)) collate "C"`;
    q = q.where((eb) =>
      eb.or([
        eb.and([eb('email_key', '>=', from), eb('email_key', '<=', to)]),
        eb.and([eb('username_key', '>=', from), eb('username_key', '<=', to)]),
      ]),
    );
  } else if (opts.query) {
    const pattern = `%${likeLiteral(opts.query.toLowerCase())}%`;
    q = q.where((eb) => eb.or([eb(sql`lower(email)`, 'like', pattern), eb(sql`lower(coalesce(username, ''))`, 'like', pattern)]));
  }
  if (opts.role) q = q.where(sql<boolean>`roles @> array[${opts.role}]::text[]`);
  if (opts.status) q = q.where('disabled_at', opts.status === 'disabled' ? 'is not' : 'is', null);
  if (opts.verified !== undefined) q = q.where('email_verified_at', opts.verified ? 'is not' : 'is', null);
  if (opts.after) {
    q = q.where(sql<boolean>`(created_at, id) > (${opts.after.ts}::timestamptz, ${opts.after.id}::uuid)`);
  }
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).execute();
}
