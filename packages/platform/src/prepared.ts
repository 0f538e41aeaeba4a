/**
 * Queries built and compiled by Kysely once, then executed with new values (issue 13: CPU per
 * request). Kysely builds an operation tree, runs it through its parser and compiles it to SQL
 * at every call; for the hot statements of login and refresh that was a large part of the
 * event loop's work (a CPU profile of refresh: 12% of the JS thread in building and compiling
 * its one CTE statement). The statement's text does not depend on the values, only its
 * parameters do, so it is compiled once here and each call only swaps the parameters.
 *
 * How: the builder is called once with a stand-in object per value (`p.name`); Kysely puts
 * each stand-in, as any value, into the compiled query's parameter list. A call then maps that
 * list to the values given. The builder is still Kysely's typed builder (the same code as
 * before, values read from `p`), on a Kysely instance of its own that compiles for PostgreSQL
 * and never connects (Kysely's "splitting build and execute" pattern); PGlite's dialect uses
 * the same compiler. Hand-written because Kysely has no placeholder API and no maintained
 * package adds one for Kysely 0.29.
 *
 * Limits, checked when compiling: a value must go into the query as a parameter (used where
 * Kysely would inline or transform it, it is not found in the parameter list: error), and its
 * shape must not depend on the value (no `in` lists of varying length, no JS arithmetic on
 * `p`'s members: do that before the call). `undefined` is refused at the call (Kysely would
 * have left the column out, a different statement).
 *
 * Named statements (PostgreSQL): each compiled text also gets a stable name ({@link
 * statementName}); the pool (db.pool.ts) runs a named text as a named prepared statement, so
 * PostgreSQL parses it once per connection and can keep its plan, instead of a Parse (parse,
 * analyse, rewrite, plan) at every execution. Only texts whose result columns are spelled out
 * get a name (see {@link nameStatement}).
 */
import { createHash } from 'node:crypto';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
  type CompiledQuery,
  type QueryResult,
} from 'kysely';

/** The stand-in of one value while the query is compiled. */
class Slot {
  constructor(readonly key: string) {}
}

/** A compiled query and how to fill its parameters: a value's key, or a constant of the query. */
interface Plan<R> {
  compiled: CompiledQuery<R>;
  fill: Array<{ key: string } | { constant: unknown }>;
}

/** statement text -> its name, for the texts {@link preparedQuery} compiled and that may be named */
const names = new Map<string, string>();
/** name -> text: a (64-bit) hash collision is refused rather than trusted */
const texts = new Map<string, string>();

/**
 * A select list or RETURNING with `*` (`select *`, `"t".*`, `returning *`): its result columns
 * are whatever the table has when the statement is parsed. A named statement keeps the result
 * type it was prepared with, and PostgreSQL fails it ("cached plan must not change result
 * type", 0A000) once a migration adds or drops a column; an explicit list only fails when a
 * listed column's type changes. Loose on purpose: any `*` that could be one is refused (the
 * statement then simply stays unnamed); `count(*)` and multiplication do not match.
 */
const STAR_COLUMNS = /(?:\bselect\s+(?:distinct\s+)?|\breturning\s+|,\s*)\*|\.\s*\*/i;

/**
 * Registers `text` as a named statement and returns its name: `gh_` and 64 bits of the text's
 * sha256, the same in every process and at every start. Undefined, and nothing registered, when
 * its result columns include a `*` ({@link STAR_COLUMNS}) or the name is taken by another text.
 */
export function nameStatement(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined) return known;
  if (STAR_COLUMNS.test(text)) return undefined;
  const name = `gh_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  if (texts.has(name)) return undefined;
  names.set(text, name);
  texts.set(name, text);
  return name;
}

/** The name of a registered statement text; undefined: run it unnamed. Read by the pool at every query. */
export function statementName(text: string): string | undefined {
  return names.get(text);
}

/** Something that executes a compiled query: a Kysely instance or transaction of any schema. */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/**
 * A query compiled once: `run(db, values)` executes it with `values` on `db` (a transaction
 * or the pool) and returns the rows. `build` receives a Kysely instance of the schema's type
 * (compiles only) and the stand-ins of the values. `named: false` does not register its text as a
 * named statement (for a query its caller does not keep: each distinct named text stays
 * prepared on every connection that ran it, so only a bounded set of texts may be named).
 */
export function preparedQuery<DB, P extends Record<string, unknown>, R>(build: (db: Kysely<DB>, p: P) => Compilable<R>, opts: { named?: boolean } = {}) {
  let plan: Plan<R> | undefined;

  function compile(): Plan<R> {
    const cold = new Kysely<DB>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) => new PostgresIntrospector(db),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
    });
    const used = new Set<string>();
    // the stand-ins: any member read of `p` gives the Slot of that key (a typed view of a
    // Proxy; its members are only ever handed to Kysely as values)
    const stand = new Proxy(
      {},
      {
        get: (_t, key) => {
          if (typeof key !== 'string') return undefined;
          used.add(key);
          return new Slot(key);
        },
      },
    ) as P;
    const compiled = build(cold, stand).compile();
    const fill = compiled.parameters.map((v) => (v instanceof Slot ? { key: v.key } : { constant: v }));
    for (const key of used) {
      if (!fill.some((f) => 'key' in f && f.key === key)) throw new Error(`preparedQuery: value ${key} is not a parameter of the compiled query`);
    }
    if (opts.named !== false) nameStatement(compiled.sql);
    return { compiled, fill };
  }

  return {
    /** Executes the query with `values`; its rows. */
    async run(db: QueryRunner, values: P): Promise<R[]> {
      plan ??= compile();
      const parameters = plan.fill.map((f) => {
        if (!('key' in f)) return f.constant;
        const v = values[f.key];
        if (v === undefined) throw new Error(`preparedQuery: no value for ${f.key}`);
        return v;
      });
      const result = await db.executeQuery<R>({ ...plan.compiled, parameters });
      return result.rows;
    },
    /** The SQL text (tests, docs). */
    sql(): string {
      plan ??= compile();
      return plan.compiled.sql;
    },
    /** The statement's name on PostgreSQL; undefined when it runs unnamed (tests, docs). */
    statementName(): string | undefined {
      plan ??= compile();
      return statementName(plan.compiled.sql);
    },
  };
}
