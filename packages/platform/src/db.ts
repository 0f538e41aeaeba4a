/**
 * Database access: Kysely over `pg` (PostgreSQL) or PGlite (embedded), one schema per service.
 *
 * Tenant isolation is enforced by PostgreSQL row-level security, not by WHERE clauses:
 * {@link Database.withTenant} opens a transaction, switches to the unprivileged application
 * role, which is neither table owner nor BYPASSRLS (on PostgreSQL a pool of its own whose
 * sessions start as that role, and `RESET ROLE` returns there at every transaction; on PGlite
 * `SET LOCAL ROLE`), and sets `app.tenant_id` for that transaction only. Every tenant-owned table has
 * `ENABLE` + `FORCE ROW LEVEL SECURITY` and a policy on `tenant_id =` {@link TENANT_EXPR}.
 * `admin` is the explicit cross-tenant path (migrations, outbox relay, superadmin work).
 */
import { Kysely, PostgresDialect, sql, type KyselyPlugin, type RawBuilder, type Transaction } from 'kysely';
import { APP_ROLE, migrateSchema } from './db.migrate';
import { createPgPool, lastResultPool, openReadWithNext, openWithNext, SECOND_STATEMENT } from './db.pool';
import type pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { openPGlite, type SharedPGlite } from './pglite';
import type { Logger } from 'pino';
import type { PlatformTables } from './schema';
import { createUnitOfWork, type CommitHooks, type Emit, type UnitOfWork } from './unit-of-work';

export type { PlatformTables } from './schema';
export type { CommitHooks, Emit } from './unit-of-work';
export { APP_ROLE, rlsSql, TENANT_EXPR } from './db.migrate';
import { observedGauge, type Registry } from './metrics';
import { querySpanLogger, queryTracer } from './tracing';

/** A service's database: its declared tables (`services/<svc>/src/db/schema.ts`), the platform's included. */
export type Db<DB extends PlatformTables = PlatformTables> = Kysely<DB>;
/** A transaction (or the connection of a unit of work) over a service's tables. */
export type Tx<DB extends PlatformTables = PlatformTables> = Transaction<DB>;

/** A unit of work: the transaction's executor and its {@link Emit}. */
export type Work<DB extends PlatformTables, T> = (trx: Tx<DB>, emit: Emit) => Promise<T>;

export interface Database<DB extends PlatformTables = PlatformTables> {
  readonly kind: 'postgres' | 'pglite';
  readonly schema: string;
  /** owner connection: migrations and explicit cross-tenant work only */
  readonly admin: Db<DB>;
  /**
   * Runs `fn` in a transaction as the application role with `app.tenant_id` set: RLS applies.
   * Events passed to `emit` commit with it; the relay nudge and revocations follow the commit.
   */
  withTenant<T>(tenantId: string, fn: Work<DB, T>): Promise<T>;
  /**
   * {@link withTenant} whose opening message also carries `lead`, and `fn` gets the rows of its
   * last statement: one round trip for BEGIN, the tenant settings and, say, a lock and the read
   * that must follow it. `lead` goes by the simple query protocol, so it takes no parameters:
   * build it with `sql.raw` and inline only values checked first (a UUID, a known identifier).
   * Each statement of the message takes its own snapshot, so a read after a lock sees what
   * committed before the lock was granted.
   */
  withTenantLed<R, T>(tenantId: string, lead: RawBuilder<R>, fn: (trx: Tx<DB>, emit: Emit, rows: R[]) => Promise<T>): Promise<T>;
  /**
   * {@link withTenant} for a read of one statement (a profile, a user by id): on PostgreSQL the
   * open, the statement and the COMMIT go out in one write, so the transaction is one round trip
   * instead of two (db.pool.ts, openReadWithNext). `read` must run exactly one statement: a
   * second is refused (it would run after the commit, outside the tenant's transaction) and
   * `read` fails with it. It emits nothing. On PGlite it commits after the read, as
   * {@link withTenant} does, and a second statement fails the read once it has run (rolled back).
   */
  withTenantRead<T>(tenantId: string, read: (trx: Tx<DB>) => Promise<T>): Promise<T>;
  /** The same unit of work on the owner connection (RLS does not apply): cross-tenant changes. */
  transaction<T>(fn: Work<DB, T>): Promise<T>;
  /** Sets what follows each commit (the service's relay and revocation list); wired once in deps.ts. */
  onCommit(hooks: CommitHooks): void;
  /** Applies the numbered .sql files in `dir` not applied yet, under an advisory lock. */
  migrate(dir: string): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PostgreSQL pool figures for metrics (the owner's and withTenant's pools summed); undefined for PGlite (one in-process connection) */
  poolStats(): { total: number; idle: number; waiting: number; max: number } | undefined;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; unset: PGlite */
  url?: string;
  /**
   * PGlite data directory; unset with no url: in memory. Every service of the process given
   * the same directory shares one PGlite instance (one connection, taken in turns: see pglite.ts).
   */
  dataDir?: string;
  schema: string;
  logger: Logger;
  /** pool size for PostgreSQL (default 10) */
  poolSize?: number;
  /** how long a query waits for a pooled connection before failing with 503 (default 5000) */
  connectTimeoutMs?: number;
  /** PostgreSQL ends a session whose transaction stays idle this long (default 60; 0: never) */
  idleInTransactionTimeoutSec?: number;
  /** TCP keepalive of each connection, both ends: first probe after this idle time (default 60; 0: the OS default) */
  tcpKeepaliveSec?: number;
  /** PostgreSQL: run `preparedQuery`'s statements as named prepared statements (default true; db.pool.ts) */
  namedStatements?: boolean;
}

export { poolOptions, sessionOptions } from './db.pool';

/** The database a PostgreSQL URL names (db.namespace of query spans). */
function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
  } catch {
    return 'postgres';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Creates the database handle for one service schema. */
export async function createDatabase<DB extends PlatformTables = PlatformTables>(opts: DatabaseOptions): Promise<Database<DB>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(opts.schema)) throw new Error(`invalid schema name ${opts.schema}`);
  const schema = opts.schema;
  let admin: Db<DB>;
  let kind: Database['kind'];
  const pools: pg.Pool[] = [];
  /** PostgreSQL: withTenant's own pool, whose sessions start as the application role (see below) */
  let tenantDb: Db<DB> | undefined;
  let lite: PGlite | undefined;
  let shared: SharedPGlite | undefined;
  if (opts.url) {
    kind = 'postgres';
    const url = opts.url;
    const newPool = (options: string, pipeline = false) => {
      const pool = createPgPool(url, options, opts, pipeline);
      pools.push(pool);
      return pool;
    };
    // Not getting a connection (pool exhausted past the timeout, server refusing) surfaces as
    // pg's own error, which the HTTP error handler answers 503 `service_unavailable` with
    // Retry-After (`isDependencyDown` in errors.ts), in every service, never a 500.
    // tracing on: a span per query made inside a recorded trace, timed in the pool's own
    // query function (tracing.ts, queryTracer); Kysely gets no log hook
    // search_path per connection so unqualified names resolve to the service's schema
    const searchPath = `-c search_path=${schema},public`;
    // preparedQuery's texts as named statements on both pools (db.pool.ts), unless turned off
    const traceQueries = queryTracer(databaseName(url));
    const named = { namedStatements: opts.namedStatements ?? true, logger: opts.logger, ...(traceQueries ? { traceQueries } : {}) };
    admin = new Kysely<DB>({ dialect: new PostgresDialect({ pool: lastResultPool(newPool(searchPath), named) }) });
    // withTenant's own pool. Its sessions start as the application role (startup option
    // `role`, also what RESET ROLE returns to), and each transaction opens with `reset role`
    // (tenantWork): the role no longer flips owner -> application role -> owner at every
    // transaction (issue 13, bench/results/2026-12-07-servers-rls.md). Owner work never runs on this pool, tenant
    // work never on the owner's. Connects lazily (after migrate() made the role); a session
    // that may not take the role fails to connect: closed, never the owner.
    // Its transactions' opens travel with their first statement (pipelined, openWithNext).
    tenantDb = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: lastResultPool(newPool(`${searchPath} -c role=${APP_ROLE}`, true), { ...named, pipelinedOpen: true }) }),
    });
  } else {
    kind = 'pglite';
    shared = await openPGlite(opts.dataDir, opts.logger);
    lite = shared.lite;
    try {
      await shared.exclusive(schema, (l) => l.exec(`create schema if not exists ${schema}`));
    } catch (err) {
      await shared.release();
      throw err;
    }
    // every unit of work of this handle holds the instance and runs with search_path = schema
    const log = querySpanLogger(opts.dataDir ? 'pglite' : 'pglite-memory');
    admin = new Kysely<DB>({ dialect: shared.dialect(schema), ...(log ? { log } : {}) });
  }

  let hooks: CommitHooks = {};
  let closed = false;

  const unitOfWork = (trx: Tx<DB>) => createUnitOfWork(trx, { schema, hooks, logger: opts.logger });

  /**
   * PGlite's side of withTenantRead's one statement: PostgreSQL's pool refuses a second statement
   * unsent (db.pool.ts); here, where the transaction commits only after the read, the second one
   * has run when this sees its result, and fails the read, so the transaction rolls back. Either
   * way the read fails with the same error and nothing of it commits, so a misuse shows up in the
   * embedded tests too. Kysely calls `transformResult` for every statement it runs, precompiled
   * ones (preparedQuery) included.
   */
  function oneStatementOnly(): KyselyPlugin {
    let ran = 0;
    return {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        ran += 1;
        if (ran > 1) throw new Error(SECOND_STATEMENT);
        return args.result;
      },
    };
  }

  async function withTenant<T>(tenantId: string, fn: Work<DB, T>): Promise<T> {
    return tenantWork(tenantId, undefined, (trx, emit) => fn(trx, emit));
  }

  async function withTenantRead<T>(tenantId: string, read: (trx: Tx<DB>) => Promise<T>): Promise<T> {
    return tenantWork(tenantId, undefined, (trx) => read(trx), true);
  }

  async function withTenantLed<R, T>(tenantId: string, lead: RawBuilder<R>, fn: (trx: Tx<DB>, emit: Emit, rows: R[]) => Promise<T>): Promise<T> {
    const compiled = lead.compile(admin);
    if (compiled.parameters.length > 0) throw new Error('withTenantLed: the lead takes no parameters (it rides the simple query protocol)');
    return tenantWork(tenantId, compiled.sql, fn);
  }

  async function tenantWork<R, T>(tenantId: string, lead: string | undefined, fn: (trx: Tx<DB>, emit: Emit, rows: R[]) => Promise<T>, oneRead = false): Promise<T> {
    if (!UUID.test(tenantId)) throw new Error('withTenant needs a tenant uuid');
    // BEGIN and the two SET LOCALs travel as one simple-protocol message: one round trip
    // instead of two. Utility statements rather than a SELECT of set_config: no plan, no row
    // to send and parse (RowDescription, DataRow), which was most of what RLS cost a short read.
    // The tenant id is inlined only after the UUID check above.
    // The role: PGlite's one connection is the owner's, so the role is set for this transaction
    // only. withTenant's PostgreSQL pool starts its sessions as the application role, and
    // `reset role` returns there (the startup option is the role's reset value, whatever the
    // session did since): it undoes a session-level role change that an earlier transaction on
    // the pooled connection might have made, as `set local role` did, for less server time
    // (no role check, nothing to undo at commit; issue 13, docs/database.md).
    const open = `begin; ${lite ? `set local role ${APP_ROLE}` : 'reset role'}; set local app.tenant_id = '${tenantId.toLowerCase()}'`;
    let uow: UnitOfWork | undefined;
    const result = await (tenantDb ?? admin).connection().execute(async (conn) => {
      let rows: R[] = [];
      if (lite) {
        await lite.exec(open);
        // in process a second call costs next to nothing; exec, as the lead may be several statements
        if (lead !== undefined) {
          try {
            const results = await lite.exec(lead);
            // typed by the lead's RawBuilder<R>, as Kysely types the rows of any sql<R> (PGlite's exec has no type parameter)
            rows = (results[results.length - 1]?.rows ?? []) as R[];
          } catch (err) {
            await lite.exec('rollback').catch(() => {});
            throw err;
          }
        }
      } else if (lead === undefined) {
        // Sent with fn's first statement, in one round trip (db.pool.ts, openWithNext): an
        // open that fails aborts its transaction, so that statement fails with it and nothing
        // runs outside the tenant's transaction. Were BEGIN itself to fail, the statement would
        // still run as the session's role, the application role, with no tenant set: it would
        // see no row and could write none (the policies' WITH CHECK).
        // A one-statement read's COMMIT goes with them too (openReadWithNext); the COMMIT
        // below is then answered without a round trip.
        await sql.raw(oneRead ? openReadWithNext(open) : openWithNext(open)).execute(conn);
      }
      else {
        try {
          // the rows of the message's last statement (see lastResultPool)
          rows = (await sql.raw<R>(`${open};\n${lead}`).execute(conn)).rows;
        } catch (err) {
          // an error inside the message leaves the transaction open and aborted
          await sql.raw('rollback').execute(conn).catch(() => {});
          throw err;
        }
      }
      // the connection is inside the transaction opened above; callers must not nest transactions
      const trx = (lite && oneRead ? conn.withPlugin(oneStatementOnly()) : conn) as unknown as Tx<DB>;
      uow = unitOfWork(trx);
      let value: T;
      try {
        value = await fn(trx, uow.emit, rows);
      } catch (err) {
        uow.rolledBack();
        if (lite) await lite.exec('rollback').catch(() => {});
        else await sql.raw('rollback').execute(conn).catch(() => {});
        throw err;
      }
      if (lite) await lite.exec('commit');
      else await sql.raw('commit').execute(conn);
      return value;
    });
    // after the connection went back to the pool: publishing must not hold it
    await uow!.committed();
    return result;
  }

  async function transaction<T>(fn: Work<DB, T>): Promise<T> {
    let uow: UnitOfWork | undefined;
    try {
      const result = await admin.transaction().execute((trx) => {
        uow = unitOfWork(trx);
        return fn(trx, uow.emit);
      });
      await uow!.committed();
      return result;
    } catch (err) {
      uow?.rolledBack();
      throw err;
    }
  }

  return {
    kind,
    schema,
    admin,
    withTenant,
    withTenantLed,
    withTenantRead,
    transaction,
    onCommit(h) {
      hooks = h;
    },
    migrate: (dir) => migrateSchema({ schema, admin, shared, logger: opts.logger }, dir),
    async ping() {
      await sql`select 1`.execute(admin);
    },
    async close() {
      if (closed) return;
      closed = true;
      await admin.destroy();
      await tenantDb?.destroy();
      await shared?.release();
    },
    poolStats() {
      if (!pools.length) return undefined;
      // the owner's and withTenant's pools together
      const sum = (f: (p: pg.Pool) => number) => pools.reduce((n, p) => n + f(p), 0);
      return { total: sum((p) => p.totalCount), idle: sum((p) => p.idleCount), waiting: sum((p) => p.waitingCount), max: sum((p) => p.options.max ?? 10) };
    },
  };
}

/**
 * Reports `db`'s connection pool on `registry`: connections in use and requests waiting for
 * one (a pool that keeps requests waiting is the first sign of database saturation).
 */
export function registerDatabaseMetrics(registry: Registry, service: string, db: Pick<Database, 'poolStats'>): void {
  observedGauge(registry, 'gatehouse_db_pool_connections', 'PostgreSQL pool connections by state (in_use, idle); absent for PGlite', ['service', 'state']).source(
    { service, state: 'in_use' },
    () => {
      const s = db.poolStats();
      return s && s.total - s.idle;
    },
  );
  observedGauge(registry, 'gatehouse_db_pool_connections', 'PostgreSQL pool connections by state (in_use, idle); absent for PGlite', ['service', 'state']).source(
    { service, state: 'idle' },
    () => db.poolStats()?.idle,
  );
  observedGauge(registry, 'gatehouse_db_pool_waiting', 'Queries waiting for a free PostgreSQL pool connection', ['service']).source({ service }, () => db.poolStats()?.waiting);
  observedGauge(registry, 'gatehouse_db_pool_max', 'Size limit of the PostgreSQL pool', ['service']).source({ service }, () => db.poolStats()?.max);
}
