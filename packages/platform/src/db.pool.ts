import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config';
import type { DatabaseOptions } from './db';
import { AppError } from './errors';
import { statementName } from './prepared';
import type { queryTracer } from './tracing';

/**
 * PostgreSQL errors that leave a named prepared statement unusable on its connection:
 * - 0A000 "cached plan must not change result type": a migration changed the type of a column
 *   the statement returns (or, for a text with `*`, which prepared.ts never names, its
 *   columns); the server fails the statement at every execution on that connection from then on.
 * - 26000 "prepared statement ... does not exist": node-postgres believes the statement is
 *   prepared and the server does not have it (pg closes a statement whose Bind failed in JS
 *   without forgetting it; a pooler in transaction mode hands out another server connection).
 */
function isBrokenStatement(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; routine?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code === '26000') return true;
  // 0A000 (feature_not_supported) has other causes: this one is raised by the plan cache's
  // RevalidateCachedQuery (the server's function name, reported in every locale; the
  // message is translated under a non-English lc_messages)
  return e.code === '0A000' && (e.routine === 'RevalidateCachedQuery' || (typeof e.message === 'string' && e.message.includes('cached plan must not change result type')));
}

/**
 * The pool as Kysely's driver sees it, with two differences.
 *
 * For a message of several statements (simple query protocol: withTenant's open, see
 * withTenantLed in db.ts) node-postgres returns an array of results, of which Kysely would read
 * no rows; this hands it the last one, the statement the caller asked for. Single statements
 * are untouched.
 *
 * Named statements (issue 13): a text that `preparedQuery` registered (prepared.ts,
 * `statementName`) runs as a named prepared statement: node-postgres sends its Parse once per
 * connection and then only Bind/Execute, so PostgreSQL parses and analyses it once and may
 * keep a generic plan. Every other text stays unnamed (dynamic texts would grow each
 * connection's statement cache without bound). `namedStatements: false` (config
 * `DATABASE_NAMED_STATEMENTS=false`, for PgBouncer in transaction mode before 1.21) runs
 * everything unnamed.
 *
 * A named statement that broke on its connection ({@link isBrokenStatement}) fails its
 * request with 503 `service_unavailable` and Retry-After (the client retries; nothing of the
 * work committed, as its transaction fails with it), and the connection is destroyed when
 * released instead of going back to the pool. The pool's other connections, made before the
 * failure, are likely to hold the same stale statement (a migration changes it for all of
 * them): each is closed when next checked out, so one migration costs the requests in flight
 * at that moment, not one failure per pooled connection.
 */
export function lastResultPool(
  pool: pg.Pool,
  opts: { namedStatements?: boolean; logger?: Logger; pipelinedOpen?: boolean; traceQueries?: ReturnType<typeof queryTracer> } = {},
): PostgresPool {
  const named = opts.namedStatements ?? true;
  const pipelined = opts.pipelinedOpen ?? false;
  const traced = opts.traceQueries;
  /** bumped at each broken statement: connections made before it are replaced at checkout */
  let generation = 0;
  interface Wrapped { conn: PostgresPoolClient; generation: number }
  // one wrapper per pooled client, so Kysely keeps one connection object per client as before
  const wrapped = new WeakMap<pg.PoolClient, Wrapped>();
  const wrap = (client: pg.PoolClient): Wrapped => {
    let broken = false;
    const run = async (text: string, params: ReadonlyArray<unknown>) => {
      const name = named ? statementName(text) : undefined;
      let result: pg.QueryResult | pg.QueryResult[];
      if (name === undefined) {
        result = await client.query(text, params as unknown[]);
      } else {
        try {
          result = await client.query({ name, text, values: params as unknown[] });
        } catch (err) {
          if (!isBrokenStatement(err)) throw err;
          broken = true;
          generation += 1;
          opts.logger?.warn(
            { err, statement: name },
            'a named prepared statement broke on its connection (a migration changed a column it returns; or a pooler in transaction mode, see DATABASE_NAMED_STATEMENTS): the pool replaces its connections',
          );
          throw new AppError('service_unavailable', 503, {
            detail: 'The database changed under a prepared statement; try again.',
            headers: { 'retry-after': '1' },
            cause: err,
          });
        }
      }
      return Array.isArray(result) ? result[result.length - 1]! : result;
    };
    /** a transaction's open ({@link openWithNext}) not sent yet: it goes out with the next statement */
    let pendingOpen: string | undefined;
    /** the transaction was committed with its statement: only its COMMIT or ROLLBACK may follow, and neither is sent */
    let ended = false;
    // Both are written now, the statement right behind the open, without waiting for the
    // open's answer (the pool's clients are in node-postgres' pipeline mode); PostgreSQL runs
    // them in order. An open that fails leaves its transaction aborted, so the statement
    // behind it fails too (25P02) and nothing of it runs; the caller gets the open's error.
    //
    // Both go out in one write: node-postgres writes the open (a simple-protocol message) the
    // moment it is queued, and the statement's Parse/Bind/Execute/Sync in a second write of
    // their own, so PostgreSQL's backend was woken for the open alone, answered it, and was woken
    // again for the statement. The socket is corked around the two (node-postgres corks it the
    // same way around one extended-protocol statement, query.js; corks nest), which makes them
    // one writev: one syscall here and one wake-up there. `connection.stream` is
    // node-postgres' own socket, which its query.js reaches the same way.
    //
    // A one-statement read's COMMIT goes in the same write, behind the statement: the whole
    // transaction is one round trip. A statement that fails aborts the transaction, and the
    // COMMIT behind it then ends it as a ROLLBACK (PostgreSQL's answer to COMMIT in an aborted
    // transaction), so the connection goes back to the pool outside any transaction either way.
    const openThenRun = async (open: string, text: string, params: ReadonlyArray<unknown>, commit: boolean) => {
      const socket = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
      socket?.cork?.();
      let opened: Promise<unknown>;
      let ran: Promise<pg.QueryResult>;
      let committed: Promise<unknown> | undefined;
      try {
        opened = client.query(open);
        ran = run(text, params);
        if (commit) committed = client.query('commit');
      } finally {
        socket?.uncork?.();
      }
      try {
        await opened;
      } catch (err) {
        await Promise.allSettled([ran, committed]);
        throw err;
      }
      let result: pg.QueryResult;
      try {
        result = await ran;
      } catch (err) {
        await committed?.catch(() => {});
        throw err;
      }
      await committed;
      return result;
    };
    // Only the tenant pool holds opens back, and only its first statement of a transaction
    // takes the longer way; every other query goes straight to `run`, with no promise of its own.
    const sendPipelined = (text: string, params: ReadonlyArray<unknown>): Promise<pg.QueryResult> => {
      if (ended) {
        // the read's transaction ended with its statement (openThenRun): its end was sent
        if (text === 'commit' || text === 'rollback') {
          ended = false;
          return Promise.resolve(unsent(text.toUpperCase()));
        }
        // a second statement would run outside the tenant's transaction: refused, not sent
        return Promise.reject(new Error(SECOND_STATEMENT));
      }
      if (text.startsWith(OPEN_WITH_NEXT)) {
        if (pendingOpen !== undefined) return Promise.reject(new Error('a transaction opened twice on one connection'));
        pendingOpen = text;
        // nothing sent yet: the open's outcome is the next statement's (openThenRun)
        return Promise.resolve(unsent('BEGIN'));
      }
      const open = pendingOpen;
      if (open === undefined) return run(text, params);
      pendingOpen = undefined;
      // a transaction that ran no statement: neither its open nor its end needs sending
      if (text === 'commit' || text === 'rollback') return Promise.resolve(unsent(text.toUpperCase()));
      // a one-statement read's open ({@link openReadWithNext}): its COMMIT goes out behind the statement
      const commit = open.startsWith(OPEN_READ_WITH_NEXT);
      ended = commit;
      return openThenRun(open, text, params, commit);
    };
    const send = pipelined ? sendPipelined : run;
    // tracing on: a span per query made inside a recorded trace (tracing.ts, queryTracer)
    const query = traced ? (text: string, params: ReadonlyArray<unknown>) => traced(text, () => send(text, params)) : send;
    return {
      generation,
      conn: {
        // Kysely's cursor overload (streaming) is not used: the dialect is given no `cursor`
        query: query as PostgresPoolClient['query'],
        release: (destroy?: boolean) => {
          // an open never followed by a statement was never sent: nothing to undo on the server
          pendingOpen = undefined;
          ended = false;
          client.release(destroy || broken);
        },
        // read by Kysely for query cancellation (pg's undocumented member, as Kysely notes)
        get processID() {
          return (client as unknown as { processID?: number }).processID;
        },
      },
    };
  };
  return {
    async connect() {
      for (;;) {
        const client = await pool.connect();
        let w = wrapped.get(client);
        if (!w) wrapped.set(client, (w = wrap(client)));
        if (w.generation === generation) return w.conn;
        // made before a statement broke on another connection: likely broken too (see above)
        client.release(true);
      }
    },
    end: () => pool.end(),
    options: pool.options,
  };
}

/** The error of a second statement in a one-statement read ({@link openReadWithNext}; PGlite's guard in db.ts says the same). */
export const SECOND_STATEMENT = 'a one-statement read (withTenantRead) ran a second statement';

const OPEN_WITH_NEXT = '/* opens with the next statement';
const OPEN_READ_WITH_NEXT = `${OPEN_WITH_NEXT}, its only one, and commits after it */ `;
/** What Kysely gets for a statement {@link lastResultPool} did not need to send: no rows. */
const unsent = (command: string): pg.QueryResult => ({ command, rowCount: null, oid: 0, fields: [], rows: [] });

/**
 * `open` (the simple-protocol message that opens a transaction: BEGIN and its SET LOCALs) marked
 * to travel with the statement that follows it on a pool made with `pipelinedOpen`
 * ({@link lastResultPool}): one round trip for both instead of two, which was most of what a
 * short transaction under row-level security cost beside the same one without (issue 13;
 * withTenant in db.ts). On any other pool the mark is a comment and the open runs by itself.
 */
export function openWithNext(open: string): string {
  return `${OPEN_WITH_NEXT} */ ${open}`;
}

/**
 * {@link openWithNext} for a transaction of one statement that reads (withTenantRead in db.ts):
 * on a pool made with `pipelinedOpen`, the open, the statement and the COMMIT go out together,
 * one round trip for the whole transaction instead of two; a second statement is refused
 * unsent, and the caller's own COMMIT or ROLLBACK is answered without sending anything. On any
 * other pool the mark is a comment and the transaction runs as any other.
 */
export function openReadWithNext(open: string): string {
  return OPEN_READ_WITH_NEXT + open;
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
): Pick<DatabaseOptions, 'poolSize' | 'connectTimeoutMs' | 'idleInTransactionTimeoutSec' | 'tcpKeepaliveSec' | 'namedStatements'> {
  const d = config.database;
  return {
    poolSize: d.poolSize,
    connectTimeoutMs: d.connectTimeoutMs,
    idleInTransactionTimeoutSec: d.idleInTransactionTimeoutSec,
    tcpKeepaliveSec: d.tcpKeepaliveSec,
    namedStatements: d.namedStatements,
  };
}

/**
 * A node-postgres pool for `url` whose sessions start with `startup` (search_path, role) and
 * {@link sessionOptions}, with the client's side of the keepalive, and whose connection errors
 * are logged instead of crashing the process.
 */
export function createPgPool(
  url: string,
  startup: string,
  opts: Pick<DatabaseOptions, 'logger' | 'poolSize' | 'connectTimeoutMs' | 'idleInTransactionTimeoutSec' | 'tcpKeepaliveSec'>,
  pipeline = false,
): pg.Pool {
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
    // node-postgres writes a query without waiting for the one before to be answered: what
    // lets a transaction's open travel with its first statement (openWithNext). Kysely awaits
    // each query, so nothing else is ever in flight behind another.
    pipeline,
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
