/**
 * Declared database schemas: the platform's own tables (outbox, inbox, schema_migrations, in
 * every service's schema) and the column map each service keeps next to its table interfaces.
 *
 * Why a hand-kept column map rather than `kysely-codegen`: the interfaces carry what codegen
 * cannot know (how JSON columns are written, which union a status column allows, which
 * columns the code must never insert), and TypeScript types vanish at run time. So each
 * table also gets one line per column, e.g. `revoked_at: 'timestamptz null'`, which
 * {@link SchemaSpec} checks against the interface at compile time (type, nullability and
 * default must agree with `Selectable`/`Insertable`), and which each service's schema test
 * compares with `information_schema.columns` of a freshly migrated database
 * ({@link readColumns}). A migration and a declaration that disagree fail one or the other,
 * with no generator to install or run against a live database.
 */
import { sql, type ColumnType, type Generated, type InsertType, type Kysely, type SelectType, type UpdateType } from 'kysely';

/** The platform's tables, created by `0000_platform.sql` in every service's schema (see db.ts). */
export interface PlatformTables {
  outbox: OutboxTable;
  inbox: InboxTable;
  schema_migrations: SchemaMigrationsTable;
}

/** Events committed with the state they describe, published by the relay. */
export interface OutboxTable {
  id: string;
  subject: string;
  /** written as the event's JSON text; read back parsed (jsonb) */
  payload: ColumnType<object | string, string, never>;
  created_at: Generated<Date>;
  published_at: Date | null;
  attempts: Generated<number>;
  last_error: string | null;
}

/** Events a consumer has processed (one row per consumer and event id). */
export interface InboxTable {
  consumer: string;
  event_id: string;
  processed_at: Generated<Date>;
}

/** Migrations applied, by file name. */
export interface SchemaMigrationsTable {
  name: string;
  applied_at: Generated<Date>;
}

/**
 * A PostgreSQL `bigint`: node-postgres returns it as a string (it may exceed 2^53), PGlite as
 * a number or bigint; read it through `Number()`.
 */
export type Int8 = ColumnType<string | number | bigint, number | bigint | string, number | bigint | string>;

/** A `jsonb` column read as `T` and written as JSON text (node-postgres would send arrays as PostgreSQL arrays). */
export type Json<T> = ColumnType<T, string, string>;

/** A `timestamptz` read as a Date and written as a Date or an ISO 8601 string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** Column `C` with a database default: inserts may omit it (`Generated<T>` for columns of other types). */
export type Default<C> = ColumnType<SelectType<C>, InsertType<C> | undefined, UpdateType<C>>;

/** Column types as the map spells them: the udt name, `text[]` for an array of text. */
export type PgType = 'uuid' | 'text' | 'jsonb' | 'timestamptz' | 'bool' | 'int4' | 'int8' | 'bytea' | 'text[]';

/** The PostgreSQL types a column selected as `S` (null removed) may have. */
type PgTypeOf<S> = [S] extends [Date]
  ? 'timestamptz'
  : [S] extends [boolean]
    ? 'bool'
    : [S] extends [string[]]
      ? 'text[]'
      : [S] extends [Uint8Array]
        ? 'bytea'
        : [S] extends [string]
          ? 'uuid' | 'text'
          : [S] extends [number]
            ? 'int4'
            : [S] extends [string | number | bigint]
              ? 'int8'
              : 'jsonb';

/** `'<type>'`, then ` null` when the column is nullable, then ` default` when inserts may omit it. */
export type ColumnSpec<C> = `${PgTypeOf<Exclude<SelectType<C>, null>>}${null extends SelectType<C> ? ' null' : ''}${undefined extends InsertType<C> ? ' default' : ''}`;

/** One line per column of table `T`, every column and no other. */
export type TableSpec<T> = { [K in keyof T]-?: ColumnSpec<T[K]> };

/** The column map of a database: every table of `DB` and no other (use with `satisfies`). */
export type SchemaSpec<DB> = { [K in keyof DB]-?: TableSpec<DB[K]> };

/** The platform's tables as a column map; each service's map spreads it in. */
export const platformColumns = {
  outbox: {
    id: 'uuid',
    subject: 'text',
    payload: 'jsonb',
    created_at: 'timestamptz default',
    published_at: 'timestamptz null',
    attempts: 'int4 default',
    last_error: 'text null',
  },
  inbox: {
    consumer: 'text',
    event_id: 'text',
    processed_at: 'timestamptz default',
  },
  schema_migrations: {
    name: 'text',
    applied_at: 'timestamptz default',
  },
} as const satisfies SchemaSpec<PlatformTables>;

/**
 * Every column of a table of a column map, in its order: the spelled-out `select *` (or
 * `returning *`) for Kysely's `select([...])` / `returning([...])`, with the same row type
 * (every column of the table, as `Selectable` reads it). A statement that lists its result
 * columns may run as a named prepared statement (prepared.ts); one with `*` may not, since a
 * migration adding a column would change its result type under the prepared plan.
 */
export function allColumns<T extends Record<string, string>>(table: T): Array<keyof T & string>;
/** The same, each qualified by `alias` (`"u"."id"`, ...: the spelled-out `"u".*`). */
export function allColumns<T extends Record<string, string>, A extends string>(table: T, alias: A): Array<`${A}.${keyof T & string}`>;
export function allColumns(table: Record<string, string>, alias?: string): string[] {
  return Object.keys(table).map((c) => (alias === undefined ? c : `${alias}.${c}`));
}

/**
 * Every table of `schema` as the database has it, in the column map's spelling, for
 * comparison with a declared map (`assert.deepEqual(await readColumns(db, 'auth'), columns)`).
 */
export async function readColumns<DB>(db: Kysely<DB>, schema: string): Promise<Record<string, Record<string, string>>> {
  const { rows } = await sql<{ table_name: string; column_name: string; udt_name: string; is_nullable: string; has_default: boolean }>`
    select c.table_name, c.column_name, c.udt_name, c.is_nullable, c.column_default is not null as has_default
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = ${schema} and t.table_type = 'BASE TABLE'
    order by c.table_name, c.ordinal_position`.execute(db);
  const out: Record<string, Record<string, string>> = {};
  for (const r of rows) {
    const type = r.udt_name.startsWith('_') ? `${r.udt_name.slice(1)}[]` : r.udt_name;
    (out[r.table_name] ??= {})[r.column_name] = `${type}${r.is_nullable === 'YES' ? ' null' : ''}${r.has_default ? ' default' : ''}`;
  }
  return out;
}
