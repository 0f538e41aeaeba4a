/**
 * DATA_DIR must be writable whenever something embedded keeps files there (PGlite, file
 * storage for avatars, the dev mailbox, the embedded secret). A container that runs as a
 * non-root user over a root-owned directory otherwise fails deep inside PGlite or the first
 * avatar upload with an EACCES stack trace; this check turns that into one line at start-up.
 */
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from './config';

/** True when some part of this configuration keeps its data under `dataDir`. */
export function usesDataDir(config: Pick<Config, 'databaseUrl' | 'serviceDatabaseUrls' | 's3' | 'smtpUrl'>): boolean {
  const { auth, users, audit } = config.serviceDatabaseUrls;
  const allDatabases = Boolean(config.databaseUrl || (auth && users && audit));
  return !allDatabases || !config.s3 || !config.smtpUrl;
}

/** Creates `dataDir` if needed and checks it is writable; throws a one-line {@link ConfigError} if not. */
export function assertDataDirWritable(config: Pick<Config, 'dataDir' | 'databaseUrl' | 'serviceDatabaseUrls' | 's3' | 'smtpUrl'>): void {
  if (!usesDataDir(config)) return;
  try {
    mkdirSync(config.dataDir, { recursive: true });
    accessSync(config.dataDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const who = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    throw new ConfigError(
      `DATA_DIR ${config.dataDir} is not writable by this process${who}: ${code}. Mount a writable volume there or set DATA_DIR to one.`,
    );
  }
}

/** The directory under DATA_DIR of the one embedded database all services share. */
export const EMBEDDED_DB_DIR = 'pglite';

/**
 * Where a service's embedded (PGlite) database lives under `dataDir`: `<dataDir>/pglite`, one
 * instance for every service (each in its own schema). A data directory made before that
 * (one PGlite per service in `<dataDir>/<service>`) keeps working: a service whose own
 * directory holds a database goes on using it (`legacy`), so no data is left behind; only
 * its memory is not saved. `gatehouse start` says so and how to move (docs/embedded.md).
 */
export function embeddedDatabaseDir(dataDir: string, service: string): { dir: string; legacy: boolean } {
  const own = path.join(dataDir, service);
  if (existsSync(path.join(own, 'PG_VERSION'))) return { dir: own, legacy: true };
  return { dir: path.join(dataDir, EMBEDDED_DB_DIR), legacy: false };
}
