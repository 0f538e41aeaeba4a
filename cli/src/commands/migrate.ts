/**
 * `gatehouse migrate`: applies every service's pending migrations (auth, users, audit) and
 * exits. Also home of what the operator commands share: the CLI's config and logger, opening
 * one service's database the way that service opens it, and printing a failure.
 */
import { parseArgs } from 'node:util';
import { AppError } from '@gatehouse/platform/errors';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { embeddedDatabaseDir } from '@gatehouse/platform/datadir';
import type { Database } from '@gatehouse/platform/db';
import { createLogger, type Logger } from '@gatehouse/platform/logger';
import { openServiceDatabase as openDatabase, type ServiceDefinition } from '@gatehouse/platform/service';

/** The services that own a database. */
export const SERVICE_NAMES = ['auth', 'users', 'audit'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * Each service's contract (name, schema, migrations), loaded only when a command needs that
 * service, so `gatehouse keys` does not load the users service.
 */
const serviceContracts: Record<ServiceName, () => Promise<Pick<ServiceDefinition, 'name' | 'schema' | 'migrationsDir'>>> = {
  auth: async () => (await import('@gatehouse/auth')).authService,
  users: async () => (await import('@gatehouse/users')).usersService,
  audit: async () => (await import('@gatehouse/audit')).auditService,
};

/** What every operator command holds: the configuration and a logger on stderr. */
export interface CliContext {
  config: Config;
  logger: Logger;
}

/**
 * Reads the environment once (the CLI is an entry point). Logs go to stderr, at `warn` unless
 * LOG_LEVEL says otherwise, so stdout carries only the command's answer.
 */
export function cliContext(env: Record<string, string | undefined> = process.env): CliContext {
  const config = loadConfig({ LOG_LEVEL: 'warn', ...env });
  return { config, logger: createLogger({ level: config.logLevel, name: 'gatehouse-cli', stderr: true }) };
}

/**
 * Opens `service`'s database as the service does (platform `openServiceDatabase`). With
 * `migrate`, applies its pending migrations first (under the advisory lock, so a running
 * replica starting at the same time waits its turn).
 */
export async function openServiceDatabase(ctx: CliContext, service: ServiceName, opts: { migrate?: boolean } = {}): Promise<{ db: Database; applied: string[] }> {
  return openDatabase(ctx.config, await serviceContracts[service](), { logger: ctx.logger, migrate: opts.migrate === true, poolSize: 2 });
}

/** Where a service's data is, for messages (never prints a password). */
export function describeDatabase(config: Config, service: ServiceName): string {
  const url = config.serviceDatabaseUrls[service] ?? config.databaseUrl;
  if (!url) {
    const { dir, legacy } = embeddedDatabaseDir(config.dataDir, service);
    return legacy ? `PGlite ${dir} (earlier layout: one PGlite per service)` : `PGlite ${dir} (schema ${service})`;
  }
  const u = new URL(url);
  if (u.password) u.password = '***';
  return `PostgreSQL ${u.toString()} (schema ${service})`;
}

/**
 * The message for a failed command: an AppError's code and detail, a database's "relation
 * does not exist" as a hint to migrate, else the error's message (no stack: these are the
 * operator's to fix, and `LOG_LEVEL=debug` logs the cause).
 */
export function failureMessage(err: unknown): string {
  if (err instanceof AppError) return `${err.detail ?? err.message} (${err.code})`;
  const e = err as { code?: string; message?: string };
  if (e?.code === '42P01' || /relation .* does not exist/.test(e?.message ?? '')) {
    return `${e.message}: the database is not migrated yet; run "gatehouse migrate" first`;
  }
  return e?.message ?? String(err);
}

/** Runs a command's `parseArgs`; on a bad flag prints the message and the usage to stderr and returns undefined. */
export function parseOrUsage<R>(parse: () => R, usage: string): R | undefined {
  try {
    return parse();
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n\n${usage}`);
    return undefined;
  }
}

/**
 * The services a command's `--service` option selects (all of them when absent); otherwise
 * its exit code: 0 after printing `usage` for --help, 2 after a message when `--service`
 * names none of them.
 */
export function selectedServices(values: { help?: boolean; service?: string }, usage: string): ServiceName[] | number {
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const only = values.service;
  if (only === undefined) return [...SERVICE_NAMES];
  if (SERVICE_NAMES.includes(only as ServiceName)) return [only as ServiceName];
  process.stderr.write(`gatehouse: --service must be one of ${SERVICE_NAMES.join(', ')}, got "${only}"\n`);
  return 2;
}

/**
 * The sub-command of `gatehouse <command> <sub>` (e.g. `keys rotate`) when it is one of
 * `allowed`; otherwise the exit code: 0 after printing `usage` for help, 2 after a usage error
 * for a missing or unknown sub-command or extra words after it.
 */
export function subcommand<S extends string>(command: string, positionals: string[], help: boolean | undefined, allowed: readonly S[], usage: string): S | number {
  const [sub, ...extra] = positionals;
  if (help || sub === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  if (sub === undefined || !allowed.includes(sub as S) || extra.length > 0) {
    const article = /^[aeiou]/.test(command) ? 'an' : 'a';
    process.stderr.write(`gatehouse: ${sub === undefined ? `${article} ${command} command is required` : `unknown ${command} command "${[sub, ...extra].join(' ')}"`}\n\n${usage}`);
    return 2;
  }
  return sub as S;
}

const HELP = `Usage: gatehouse migrate [--service auth|users|audit]

Applies every pending database migration of the auth, users and audit services (or of one
with --service), then exits. Each service keeps its tables in its own schema of DATABASE_URL
(or its own <SERVICE>_DATABASE_URL), or in PGlite under DATA_DIR when no URL is set.
Migrations run under an advisory lock, so this is safe while replicas start; services also
migrate themselves on start, so this is for deploy pipelines that migrate first.
Embedded (PGlite): stop "gatehouse start" first, a PGlite directory has one user at a time.

Options:
  --service <name>  only this service
  -h, --help        show this help
`;

/** `gatehouse migrate`; returns the exit code. */
export async function migrate(args: string[]): Promise<number> {
  const parsed = parseOrUsage(
    () => parseArgs({ args, options: { service: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }),
    HELP,
  );
  if (!parsed) return 2;
  const services = selectedServices(parsed.values, HELP);
  if (typeof services === 'number') return services;
  const ctx = cliContext();
  for (const service of services) {
    let opened: Awaited<ReturnType<typeof openServiceDatabase>>;
    try {
      opened = await openServiceDatabase(ctx, service, { migrate: true });
    } catch (err) {
      ctx.logger.debug({ err, service }, 'migration failed');
      process.stderr.write(`gatehouse: ${service} (${describeDatabase(ctx.config, service)}): migration failed: ${failureMessage(err)}\n`);
      return 1;
    }
    await opened.db.close();
    const what = opened.applied.length ? `applied ${opened.applied.join(', ')}` : 'up to date';
    process.stdout.write(`${service}: ${what}\n`);
  }
  return 0;
}
