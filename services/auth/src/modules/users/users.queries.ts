/** User rows. Every function takes the executor of a `withTenant` transaction: RLS scopes it. */
import { sql } from 'kysely';
import { preparedQuery } from '@gatehouse/platform/prepared';
import { allColumns } from '@gatehouse/platform/schema';
import { columns, type Db, type NewUser, type Tx, type UserRow, type UserUpdate } from '../../db/schema';

export type { UserRow } from '../../db/schema';

/** The user with this id in the current tenant. */
export async function findUserById(trx: Tx, id: string): Promise<UserRow | undefined> {
  return (await byIdQuery.run(trx, { id }))[0];
}

// read at every GET /auth/me (and many account changes): compiled once, a named statement
// (platform/prepared.ts)
const byIdQuery = preparedQuery((db: Db, p: { id: string }) => db.selectFrom('users').select(allColumns(columns.users)).where('id', '=', p.id));

/**
 * Case-insensitive lookup by email. Both sides are PostgreSQL's lower() (the stored `email_key`
 * is lower(email), the expression of the unique index), so lookups and uniqueness agree for
 * every script (JavaScript's toLowerCase can differ from it). The condition is on the column,
 * not on lower(email): lower() is not leakproof, so under RLS only `email_key = …` can be an
 * index condition (migration 0010).
 */
export async function findUserByEmail(trx: Tx, email: string): Promise<UserRow | undefined> {
  return (await byEmailQuery.run(trx, { email }))[0];
}

// the login's lookups, compiled once and run as named statements (platform/prepared.ts: hence
// the columns spelled out rather than `select *`)
const byEmailQuery = preparedQuery((db: Db, p: { email: string }) =>
  db.selectFrom('users').select(allColumns(columns.users)).where('email_key', '=', sql<string>`lower(${p.email}) collate "C"`),
);
const byUsernameQuery = preparedQuery((db: Db, p: { username: string }) =>
  db.selectFrom('users').select(allColumns(columns.users)).where('username_key', '=', sql<string>`lower(${p.username}) collate "C"`),
);

/** Case-insensitive lookup by username (`username_key`, as {@link findUserByEmail}). */
export async function findUserByUsername(trx: Tx, username: string): Promise<UserRow | undefined> {
  return (await byUsernameQuery.run(trx, { username }))[0];
}

/** Inserts a user; a duplicate email or username raises a unique violation (23505). */
export async function insertUser(
  trx: Tx,
  row: NewUser & { username: string | null; display_name: string | null; password_hash: string | null; roles: string[] },
): Promise<UserRow> {
  return trx.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Updates columns of a user and bumps updated_at; returns the new row. */
export async function updateUser(trx: Tx, id: string, set: UserUpdate): Promise<UserRow | undefined> {
  return trx
    .updateTable('users')
    .set({ ...set, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

const lastLoginQuery = preparedQuery((db: Db, p: { id: string; at: Date }) =>
  db
    .updateTable('users')
    .set({ last_login_at: p.at, updated_at: sql<Date>`now()` })
    .where('id', '=', p.id)
    .returning(allColumns(columns.users)),
);

/** Records a sign-in (`last_login_at`): {@link updateUser} for the login path, compiled once. */
export async function setLastLogin(trx: Tx, id: string, at: Date): Promise<UserRow | undefined> {
  return (await lastLoginQuery.run(trx, { id, at }))[0];
}

/** Deletes a user (sessions and tokens go with it by cascade); true when a row went. */
export async function deleteUser(trx: Tx, id: string): Promise<boolean> {
  const r = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
