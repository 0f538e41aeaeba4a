import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * The pool as Kysely's driver sees it, with one difference: for a message of several
 * statements (simple query protocol: withTenant's open, see withTenantLed in db.ts)
 * node-postgres returns an array of results, of which Kysely would read no rows; this hands it
 * the last one, the statement the caller asked for. Single statements are untouched.
 */
export function lastResultPool(pool: pg.Pool): PostgresPool {
  // one wrapper per pooled client, so Kysely keeps one connection object per client as before
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    const query = async (text: string, params: ReadonlyArray<unknown>) => {
      const result: pg.QueryResult | pg.QueryResult[] = await client.query(text, params as unknown[]);
      return Array.isArray(result) ? result[result.length - 1]! : result;
    };
    return {
      // Kysely's cursor overload (streaming) is not used: the dialect is given no `cursor`
      query: query as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
      // read by Kysely for query cancellation (pg's undocumented member, as Kysely notes)
      get processID() {
        return (client as unknown as { processID?: number }).processID;
      },
    };
  };
  return {
    async connect() {
      const client = await pool.connect();
      let w = wrapped.get(client);
      if (!w) wrapped.set(client, (w = wrap(client)));
      return w;
    },
    end: () => pool.end(),
    options: pool.options,
  };
}
