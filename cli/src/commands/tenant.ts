/**
 * `gatehouse tenant create|list|show|disable|enable`: tenant management from the command line,
 * next to a running deployment. It works on the auth database directly through the auth
 * service's operations facade (the same checks as the admin API), writes each change with its
 * `tenant.events.*` outbox row (the deployment's running relay publishes it) and publishes a
 * disable's token revocation to the shared revocation list (Redis), so running processes
 * refuse the tenant's tokens at once.
 */
import { parseArgs } from 'node:util';
import client from 'prom-client';
import type { Config } from '@gatehouse/platform/config';
import type { Database } from '@gatehouse/platform/db';
import { AppError } from '@gatehouse/platform/errors';
import { createMemoryTransport } from '@gatehouse/platform/events';
import { createKvStore } from '@gatehouse/platform/kv';
import { createMailer } from '@gatehouse/platform/mail';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { resolveSecret } from '@gatehouse/platform/secret';
import type { SharedDeps } from '@gatehouse/platform/service';
import { checkNewTenant, createTenantOperations, type Tenant } from '@gatehouse/auth/operations';
import { cliContext, describeDatabase, failureMessage, openServiceDatabase, parseOrUsage, type CliContext } from './migrate';

const HELP = `Usage: gatehouse tenant <action> [options]

Actions:
  create <slug> --name <name> [--settings <json>] [--admin-email <email> --admin-password-stdin]
                          create an active tenant (reached at <slug>.BASE_DOMAIN); with
                          --admin-email, its first admin too (password from standard input)
  list [--status active|disabled] [--query <text>]
                          every tenant, oldest first
  show <slug>             one tenant with its settings
  disable <slug>          disable a tenant: its sessions are revoked, its access tokens fail
                          everywhere at once, its users cannot sign in
  enable <slug>           enable a disabled tenant again

Options:
  --json       print JSON instead of text
  -h, --help   show this help

Exit status: 0 done; 1 refused (invalid or reserved slug, slug taken, bad settings, unknown
tenant, the default tenant) or failed; 2 bad usage.

Works on the auth database (AUTH_DATABASE_URL, DATABASE_URL, or PGlite under DATA_DIR) and
Redis (REDIS_URL) of the deployment, which may be running. Changes are published by the
deployment's outbox relay. Embedded (PGlite): stop "gatehouse start" first.
Settings and their defaults: docs/tenancy.md.
`;

/**
 * The process-wide deps the auth service is built on, reduced to what these commands use:
 * the limit store (Redis when configured) for the revocation list. The event transport and
 * mailer are never used (nothing here publishes events directly or sends mail), so no
 * NATS or SMTP connection is opened.
 */
function operatorShared(ctx: CliContext): SharedDeps {
  const { config, logger } = ctx;
  const kv = createKvStore({ url: config.redisUrl, logger, name: 'gatehouse-cli' });
  return {
    logger,
    kv,
    transport: createMemoryTransport({ logger }),
    revocations: createRevocationList({ kv, logger }),
    mailer: createMailer({ from: config.mailFrom, logger }),
    registry: new client.Registry(),
  };
}

/** Opens (and migrates) the auth database and wires the auth service's functions on it. */
async function openAuth(ctx: CliContext): Promise<{ tenants: ReturnType<typeof createTenantOperations>; close(): Promise<void> }> {
  const { db } = await openServiceDatabase(ctx, 'auth', { migrate: true });
  const shared = operatorShared(ctx);
  const close = async (database: Database) => {
    await shared.kv.close().catch(() => {});
    await shared.mailer.close().catch(() => {});
    await database.close();
  };
  try {
    const tenants = createTenantOperations({ config: ctx.config, shared, db, secret: await resolveSecret(ctx.config) });
    return {
      tenants,
      async close() {
        // a disable schedules a follow-up sweep; it must run before the process exits
        await tenants.idle();
        await close(db);
      },
    };
  } catch (err) {
    await close(db);
    throw err;
  }
}

/** Reads the whole of stdin (for a password: never on the command line, where `ps` shows it). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function printTenants(tenants: Tenant[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(tenants, null, 2)}\n`);
    return;
  }
  if (tenants.length === 0) {
    process.stdout.write('no tenants\n');
    return;
  }
  const rows = [['SLUG', 'STATUS', 'ID', 'CREATED', 'NAME'], ...tenants.map((t) => [t.slug, t.status, t.id, t.createdAt.slice(0, 19).replace('T', ' '), t.name])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
}

function printTenant(t: Tenant, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${t.slug}  ${t.status}  ${t.id}\n  name      ${t.name}\n  created   ${t.createdAt}\n  settings  ${JSON.stringify(t.settings)}\n`);
}

/** A note for an embedded deployment, where no shared revocation list reaches other processes. */
function embeddedNote(config: Config): string {
  return config.redisUrl ? '' : ' (no REDIS_URL: running processes learn it from the database and the tenant event only)';
}

/** `gatehouse tenant …`; returns the exit code. */
export async function tenant(args: string[]): Promise<number> {
  const parsed = parseOrUsage(
    () =>
      parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: {
          name: { type: 'string' },
          settings: { type: 'string' },
          'admin-email': { type: 'string' },
          'admin-password-stdin': { type: 'boolean' },
          status: { type: 'string' },
          query: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      }),
    HELP,
  );
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  const [action, slug, ...extra] = positionals;
  if (values.help || action === undefined || action === 'help') {
    process.stdout.write(HELP);
    return values.help || action === 'help' ? 0 : 2;
  }
  const usage = (message: string) => {
    process.stderr.write(`gatehouse: ${message}\n\n${HELP}`);
    return 2;
  };
  if (extra.length) return usage(`unexpected arguments: ${extra.join(' ')}`);
  const needsSlug = ['create', 'show', 'disable', 'enable'];
  if (!needsSlug.includes(action) && action !== 'list') return usage(`unknown action "${action}"`);
  if (needsSlug.includes(action) && !slug) return usage(`tenant ${action} needs a slug`);
  if (action === 'list' && slug) return usage('tenant list takes no slug');
  if (action === 'create' && !values.name) return usage('tenant create needs --name');
  if (Boolean(values['admin-email']) !== Boolean(values['admin-password-stdin'])) return usage('--admin-email and --admin-password-stdin go together');
  if (values.status !== undefined && values.status !== 'active' && values.status !== 'disabled') return usage('--status must be active or disabled');
  let settings: unknown;
  if (values.settings !== undefined) {
    try {
      settings = JSON.parse(values.settings);
    } catch {
      return usage('--settings must be a JSON object, e.g. \'{"passwordMinLength":12}\'');
    }
  }
  const json = values.json === true;

  const ctx = cliContext();
  let opened: Awaited<ReturnType<typeof openAuth>> | undefined;
  try {
    let adminPassword: string | undefined;
    if (action === 'create') {
      // what needs no database is checked before opening it: quick answers for typos
      checkNewTenant(slug!, settings);
      if (values['admin-email']) adminPassword = await readStdin();
    }
    opened = await openAuth(ctx);
    const { tenants } = opened;
    switch (action) {
      case 'create': {
        const admin = values['admin-email'] ? { email: values['admin-email'], password: adminPassword ?? '' } : undefined;
        const t = await tenants.create({ slug: slug!, name: values.name!, settings, admin });
        if (json) printTenant(t, true);
        else process.stdout.write(`created tenant ${t.slug} (${t.id})${t.admin ? ` with admin ${t.admin.email}` : ''}\n`);
        break;
      }
      case 'list':
        printTenants((await tenants.list({ status: values.status as 'active' | 'disabled' | undefined, query: values.query })).items, json);
        break;
      case 'show':
        printTenant(await tenants.get(slug!), json);
        break;
      case 'disable':
      case 'enable': {
        const t = await tenants.setStatus(slug!, action === 'disable' ? 'disabled' : 'active');
        if (json) printTenant(t, true);
        else process.stdout.write(`tenant ${t.slug} is ${t.status}${action === 'disable' ? embeddedNote(ctx.config) : ''}\n`);
        break;
      }
    }
    return 0;
  } catch (err) {
    ctx.logger.debug({ err }, 'tenant command failed');
    const where = opened || err instanceof AppError ? '' : ` (${describeDatabase(ctx.config, 'auth')})`;
    process.stderr.write(`gatehouse: tenant ${action}${where}: ${failureMessage(err)}\n`);
    // field errors (bad settings, a bad slug) name what to fix; "body." is the API's prefix
    for (const e of (err instanceof AppError ? err.errors : undefined) ?? []) process.stderr.write(`  ${e.path.replace(/^body\./, '')}: ${e.message}\n`);
    return 1;
  } finally {
    await opened?.close().catch((err: unknown) => ctx.logger.warn({ err }, 'closing failed'));
  }
}
