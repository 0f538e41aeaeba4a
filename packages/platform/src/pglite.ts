/**
 * The embedded database: one PGlite instance per data directory in the process, shared by
 * every service, each service in its own schema (the same layout as one PostgreSQL database
 * with `DATABASE_URL`).
 *
 * PGlite is one connection. Kysely's PGlite dialect (`kysely-pglite-dialect`) serialises the
 * queries and transactions of ONE Kysely instance, but each service has its own, so two
 * services on one instance would interleave their statements inside each other's transactions
 * and run with each other's `search_path`. This module's dialect replaces it (hand-written
 * because that package exports neither its driver nor its connection): every Kysely instance
 * on an instance takes the instance's one lock for each unit of work (a transaction, a
 * `connection()`, or a standalone query), and, holding it, sets `search_path` to its
 * service's schema when the previous holder was another service. A holder that gives the
 * lock back inside an open transaction (a bug) has it rolled back, so the next never runs in
 * someone else's transaction.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { beginDataDir } from './pglite.init';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type { Logger } from 'pino';
import { lockDataDir } from './datadir-lock';

export { DataDirInUseError } from './datadir-lock';

/** A PGlite instance and the lock its users take turns on. */
export interface SharedPGlite {
  readonly lite: PGlite;
  /** the data directory (undefined: in memory) */
  readonly dataDir?: string;
  /**
   * Runs `fn` holding the instance's lock with `search_path` set to `schema, public`:
   * the way to use `lite` directly (multi-statement scripts through `exec`).
   */
  exclusive<T>(schema: string, fn: (lite: PGlite) => Promise<T>): Promise<T>;
  /** A Kysely dialect whose every unit of work takes the lock and runs in `schema`. */
  dialect(schema: string): Dialect;
  /** Gives back one reference from {@link openPGlite}; the last one closes the instance. */
  release(): Promise<void>;
}

/**
 * A FIFO lock. Hand-written: a dozen lines, and PGlite's own `Mutex` is not part of its
 * documented API.
 */
function createLock() {
  let tail: Promise<void> = Promise.resolve();
  return {
    /** Resolves when the lock is held; call the returned function to release it. */
    acquire(): Promise<() => void> {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const turn = tail.then(() => release);
      tail = tail.then(() => held);
      return turn;
    },
  };
}

interface Entry {
  shared: SharedPGlite;
  /** takes one more reference */
  addRef(): void;
}

/** Open instances by absolute data directory; a directory is opened once per process. */
const open = new Map<string, Promise<Entry>>();
/** Instances being closed, so a reopen of the same directory waits for the close to finish. */
const closing = new Map<string, Promise<void>>();

/**
 * The process's PGlite instance for `dataDir` (created on first use; undefined: a private
 * in-memory instance). Each call takes a reference; give it back with `release()`.
 */
export async function openPGlite(dataDir: string | undefined, logger: Logger): Promise<SharedPGlite> {
  if (!dataDir) {
    const lite = await startPGlite(undefined, await compiledWasm());
    return createShared(lite, undefined, logger, () => lite.close());
  }
  const dir = path.resolve(dataDir);
  let entry = open.get(dir);
  if (!entry) {
    // Started before the first await (see beginDataDir): a new directory's copy or initdb and
    // the WebAssembly compilation run while the caller goes on loading code.
    mkdirSync(path.dirname(dir), { recursive: true });
    const creation = closing.has(dir) ? undefined : beginDataDir(dir, START_PARAMS, logger);
    const wasm = compiledWasm();
    entry = (async () => {
      await closing.get(dir);
      let unlock: () => Promise<void>;
      try {
        unlock = await lockDataDir(dir, { logger });
      } catch (err) {
        await creation?.discard();
        throw err;
      }
      let lite: PGlite;
      try {
        if (creation) await creation.place();
        else await beginDataDir(dir, START_PARAMS, logger)?.place();
        lite = await startPGlite(dir, await wasm);
      } catch (err) {
        await unlock();
        throw err;
      }
      let refs = 0;
      const shared = createShared(lite, dir, logger, async () => {
        if (--refs > 0) return;
        open.delete(dir);
        const done = lite.close().finally(unlock);
        closing.set(dir, done.catch(() => {}));
        try {
          await done;
        } finally {
          closing.delete(dir);
        }
      });
      return { shared, addRef: () => void refs++ };
    })();
    open.set(dir, entry);
    entry.catch(() => open.delete(dir));
  }
  const e = await entry;
  e.addRef();
  return e.shared;
}

/**
 * PGlite's start parameters with a smaller buffer cache. PostgreSQL touches all of
 * shared_buffers when it starts, so PGlite's 128 MB default is 128 MB of resident memory
 * before the first query; a small cache costs little here, because PGlite reads the data
 * files through the host file system and the kernel's page cache (not counted in the
 * process's RSS) keeps the rest. Measured in bench/results/*-embedded-pglite.md.
 */
export const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * The part of the WebAssembly global used here: the project's TypeScript libraries (no DOM)
 * do not declare it. A compiled module is opaque to this code; PGlite takes it as it is.
 */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<object> };

let wasmModule: Promise<object | undefined> | undefined;

/**
 * PGlite's WebAssembly module (PostgreSQL, ~10 MB), compiled once per process. Compiled here
 * rather than by PGlite so it starts at once, when the database is opened, and runs on V8's
 * background threads while the caller loads code; PGlite would read the file and compile it
 * only when its own start got the event loop. Undefined (PGlite then compiles it itself) when
 * the file is not where PGlite keeps it.
 */
function compiledWasm(): Promise<object | undefined> {
  if (!wasmModule) {
    try {
      const bytes = readFileSync(new URL('./pglite.wasm', import.meta.resolve('@electric-sql/pglite')));
      wasmModule = WebAssembly.compile(bytes).catch(() => undefined);
    } catch {
      wasmModule = Promise.resolve(undefined);
    }
  }
  return wasmModule;
}

async function startPGlite(dir: string | undefined, pgliteWasmModule?: object): Promise<PGlite> {
  const lite = new PGlite({ ...(dir ? { dataDir: dir } : {}), startParams: START_PARAMS, ...(pgliteWasmModule ? { pgliteWasmModule } : {}) });
  await lite.waitReady;
  return lite;
}

function createShared(lite: PGlite, dataDir: string | undefined, logger: Logger, release: () => Promise<void>): SharedPGlite {
  const lock = createLock();
  /** the session's search_path as last set here; '' until first set */
  let searchPath = '';

  async function hold(schema: string): Promise<() => Promise<void>> {
    const unlock = await lock.acquire();
    try {
      const wanted = `${schema}, public`;
      if (searchPath !== wanted) {
        // a session-level SET, outside any transaction, so no rollback undoes it
        await lite.exec(`set search_path to ${wanted}`);
        searchPath = wanted;
      }
    } catch (err) {
      unlock();
      throw err;
    }
    return async () => {
      try {
        if (lite.isInTransaction()) {
          logger.error({ schema }, 'embedded database: a unit of work ended inside an open transaction; rolled back');
          await lite.exec('rollback').catch(() => {});
        }
      } finally {
        unlock();
      }
    };
  }

  return {
    lite,
    dataDir,
    async exclusive(schema, fn) {
      const free = await hold(checkSchema(schema));
      try {
        return await fn(lite);
      } finally {
        await free();
      }
    },
    dialect(schema) {
      checkSchema(schema);
      return {
        createAdapter: () => new PostgresAdapter(),
        createQueryCompiler: () => new PostgresQueryCompiler(),
        createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
        createDriver: () => createDriver(lite, () => hold(schema)),
      };
    },
    release,
  };
}

function checkSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  return schema;
}

/** One Kysely instance's driver: each connection is the shared instance, held under its lock. */
function createDriver(lite: PGlite, hold: () => Promise<() => Promise<void>>): Driver {
  const held = new Map<DatabaseConnection, () => Promise<void>>();
  let destroyed = false;
  return {
    async init() {},
    async acquireConnection() {
      if (destroyed) throw new Error('the embedded database handle is closed');
      const free = await hold();
      const conn = createConnection(lite);
      held.set(conn, free);
      return conn;
    },
    async releaseConnection(conn) {
      const free = held.get(conn);
      held.delete(conn);
      await free?.();
    },
    async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings) {
      await conn.executeQuery(CompiledQuery.raw(settings.isolationLevel ? `start transaction isolation level ${settings.isolationLevel}` : 'begin'));
    },
    async commitTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw('commit'));
    },
    async rollbackTransaction(conn) {
      await conn.executeQuery(CompiledQuery.raw('rollback'));
    },
    // the instance is shared: closing one service's handle gives back its reference (SharedPGlite.release)
    async destroy() {
      destroyed = true;
    },
  };
}

function createConnection(lite: PGlite): DatabaseConnection {
  return {
    async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
      const result = await lite.query<R>(q.sql, [...q.parameters]);
      return result.affectedRows ? { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) } : { rows: result.rows };
    },
    async *streamQuery<R>(q: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
      const result = await lite.query<R>(q.sql, [...q.parameters]);
      for (let i = 0; i < result.rows.length; i += chunkSize) yield { rows: result.rows.slice(i, i + chunkSize) };
    },
  };
}
