import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { Config } from './config';
import type { DatabaseOptions } from './db';

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

/**
 * Startup options every PostgreSQL session of the pools asks for. A process that dies leaves
 * nothing (the kernel closes its sockets); a host that dies, or a partition, leaves its
 * sessions, open transactions and locks (an audit chain's append lock, a claimed outbox batch)
 * on the server until TCP notices, more than two hours with Linux defaults. The server's
 * keepalive (tcp_keepalives_*, settable per session) notices in ~2 minutes at the default, and
 * idle_in_transaction_session_timeout ends a transaction a stuck client holds open; the
 * client's pool then drops the ended connection and the work on it fails with a 503. Nothing
 * in Gatehouse keeps a transaction idle for long: its units of work run their statements back
 * to back.
 */
export function sessionOptions(o: Pick<DatabaseOptions, 'idleInTransactionTimeoutSec' | 'tcpKeepaliveSec'>): string {
  const idle = o.idleInTransactionTimeoutSec ?? 60;
  const keepalive = o.tcpKeepaliveSec ?? 60;
  const opts: string[] = [];
  if (idle > 0) opts.push(`-c idle_in_transaction_session_timeout=${idle * 1000}`);
  if (keepalive > 0) opts.push(`-c tcp_keepalives_idle=${keepalive}`, '-c tcp_keepalives_interval=10', '-c tcp_keepalives_count=6');
  return opts.join(' ');
}

/** The pool settings of a service's database from the configuration. */
export function poolOptions(
  config: Pick<Config, 'database'>,
): Pick<DatabaseOptions, 'poolSize' | 'connectTimeoutMs' | 'idleInTransactionTimeoutSec' | 'tcpKeepaliveSec'> {
  const d = config.database;
  return { poolSize: d.poolSize, connectTimeoutMs: d.connectTimeoutMs, idleInTransactionTimeoutSec: d.idleInTransactionTimeoutSec, tcpKeepaliveSec: d.tcpKeepaliveSec };
}

/**
 * A node-postgres pool for `url` whose sessions start with `startup` (search_path, role) and
 * {@link sessionOptions}, with the client's side of the keepalive, and whose connection errors
 * are logged instead of crashing the process.
 */
export function createPgPool(url: string, startup: string, opts: Pick<DatabaseOptions, 'logger' | 'poolSize' | 'connectTimeoutMs' | 'idleInTransactionTimeoutSec' | 'tcpKeepaliveSec'>): pg.Pool {
  const session = sessionOptions(opts);
  const keepaliveSec = opts.tcpKeepaliveSec ?? 60;
  // node-postgres loads with the first pool: the embedded mode never loads it (~30 files, ~30 ms
  // of CPU at every `npm start`); through `require` because making a pool is synchronous (pg is CommonJS)
  const { Pool }: typeof pg = createRequire(import.meta.url)('pg');
  const pool = new Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    options: session ? `${startup} ${session}` : startup,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30000,
    // the client's side of the keepalive: a server host that vanished fails the connection
    ...(keepaliveSec > 0 ? { keepAlive: true, keepAliveInitialDelayMillis: keepaliveSec * 1000 } : {}),
  });
  pool.on('error', (err) => opts.logger.warn({ err }, 'idle database connection failed'));
  // pg-pool listens for errors only on idle clients. A client that is checked out but not
  // running a query (a transaction waiting on something else) would emit an unhandled
  // 'error' when the server ends it (restart, failover) and crash the process; with this
  // listener the error is logged, the work on that client fails, and the pool drops it.
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.logger.warn({ err }, 'database connection ended while in use'));
  });
  return pool;
}
