/**
 * Starting the embedded database early. A module of its own, with few imports, so
 * `gatehouse start` can start PGlite before it loads the rest of the platform and the
 * services (a second or more of module loading that the database start then overlaps).
 */
import type { Logger } from 'pino';
import type { Config } from './config';
import { embeddedDatabaseDir } from './datadir';
import { openPGlite } from './pglite';
import type { DataServiceName } from './service';

/**
 * Starts the process's shared embedded database (the PGlite every service in `services`
 * without a database URL will open) before the services are built, so its start-up (WASM
 * compilation, on a new DATA_DIR initdb) overlaps loading the services' code. Resolves to a
 * release for the reference it holds (give it back once the services have opened theirs);
 * nothing to do (all on PostgreSQL, or only the earlier per-service layout): undefined.
 */
export async function warmEmbeddedDatabase(config: Config, services: DataServiceName[], logger: Logger): Promise<(() => Promise<void>) | undefined> {
  const dirs = new Set(
    services
      .filter((name) => !(config.serviceDatabaseUrls[name] ?? config.databaseUrl))
      .map((name) => embeddedDatabaseDir(config.dataDir, name))
      .filter((d) => !d.legacy)
      .map((d) => d.dir),
  );
  const [dir] = dirs;
  if (!dir) return undefined;
  const shared = await openPGlite(dir, logger);
  return () => shared.release();
}
