/**
 * The master secret (GATEHOUSE_SECRET): keys for encrypting data at rest and for signing
 * short-lived tokens (QR tokens, for instance) are derived from it with `deriveKey`.
 *
 * Production sets it in the environment, the same value in every replica. The embedded mode
 * (no PostgreSQL configured: every service of the process keeps its data under `dataDir`)
 * generates one on first start and keeps it in `<dataDir>/secret`, so a restart keeps
 * sealed keys readable and tokens valid. A process on PostgreSQL without a secret is an
 * error: replicas on different machines would each invent their own and reject each other's
 * tokens.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config';
import { ConfigError } from './config';

/** The part of the configuration {@link resolveSecret} looks at. */
export type SecretConfig = Pick<Config, 'secret' | 'dataDir' | 'databaseUrl' | 'serviceDatabaseUrls'>;

/** Shortest secret accepted from the file or the environment (32 base64url characters ≈ 192 bits). */
const MIN_LENGTH = 32;

/** True when no PostgreSQL is configured, so every service runs on PGlite under `dataDir`. */
export function isEmbedded(config: Pick<Config, 'databaseUrl' | 'serviceDatabaseUrls'>): boolean {
  const urls = config.serviceDatabaseUrls ?? {};
  return !config.databaseUrl && !urls.auth && !urls.users && !urls.audit;
}

/**
 * Returns the master secret: `config.secret`; else, embedded, the content of
 * `<dataDir>/secret`, created (32 random bytes, base64url, mode 0600) when missing; else throws
 * {@link ConfigError}. Creation is atomic (write a private temp file, then hard-link it into
 * place, which fails when another process got there first), so services starting together in
 * one process or several agree on one value.
 */
export async function resolveSecret(config: SecretConfig): Promise<string> {
  if (config.secret) {
    if (config.secret.length < MIN_LENGTH) throw new ConfigError(`GATEHOUSE_SECRET must be at least ${MIN_LENGTH} characters`);
    return config.secret;
  }
  if (!isEmbedded(config)) {
    throw new ConfigError('GATEHOUSE_SECRET is required when a DATABASE_URL is set (every replica must share one secret)');
  }
  const file = path.join(config.dataDir, 'secret');
  const existing = await readSecretFile(file);
  if (existing !== undefined) return existing;

  await mkdir(config.dataDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  const created = await readSecretFile(file);
  if (created === undefined) throw new ConfigError(`${file} could not be created`);
  return created;
}

async function readSecretFile(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const value = text.trim();
  if (value.length < MIN_LENGTH) throw new ConfigError(`${file} holds no usable secret (at least ${MIN_LENGTH} characters); remove it to generate a new one`);
  return value;
}
