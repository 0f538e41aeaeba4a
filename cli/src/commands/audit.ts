/**
 * `gatehouse audit verify [--tenant slug]`: re-computes the audit log's hash chains with the
 * audit service's own verification (`verifyAuditChains`), reading the database directly, so it
 * also works while the services are down.
 */
import { parseArgs } from 'node:util';
import { cliContext, describeDatabase, failureMessage, openServiceDatabase, parseOrUsage, subcommand, type CliContext } from './migrate';
import { isUuid } from '@gatehouse/platform/formats';

const HELP = `Usage: gatehouse audit verify [--tenant <slug>] [--json]

Re-computes each tenant's audit hash chain: every entry present and in order, every hash the
hash of its own fields and of the entry before. Prints "ok" or where the chain first breaks.

Options:
  --tenant <slug>  only this tenant (its slug, or its id); default: every tenant in the log
  --json           print JSON: [{tenantId, ok, checked, brokenAt?}]
  -h, --help       show this help

Exit status: 0 every chain verified; 1 a chain is broken, or the check could not run; 2 bad usage.
`;

/** The tenant id for a slug (from the auth database, which owns tenants) or an id given as is. */
async function resolveTenant(ctx: CliContext, given: string): Promise<string | undefined> {
  if (isUuid(given)) return given.toLowerCase();
  const { findTenant } = await import('@gatehouse/auth/operations');
  const { db } = await openServiceDatabase(ctx, 'auth');
  try {
    return (await findTenant(db, given))?.id;
  } finally {
    await db.close();
  }
}

/** `gatehouse audit verify`; returns the exit code. */
export async function audit(args: string[]): Promise<number> {
  const parsed = parseOrUsage(
    () =>
      parseArgs({
        args,
        options: { tenant: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        strict: true,
        allowPositionals: true,
      }),
    HELP,
  );
  if (!parsed) return 2;
  const sub = subcommand('audit', parsed.positionals, parsed.values.help, ['verify'] as const, HELP);
  if (typeof sub === 'number') return sub;
  const ctx = cliContext();
  const label = parsed.values.tenant;

  let tenantIds: string[] | undefined;
  if (label !== undefined) {
    let id: string | undefined;
    try {
      id = await resolveTenant(ctx, label);
    } catch (err) {
      process.stderr.write(`gatehouse: cannot look up tenant "${label}" in the auth database (${describeDatabase(ctx.config, 'auth')}): ${failureMessage(err)}\n`);
      return 1;
    }
    if (!id) {
      process.stderr.write(`gatehouse: tenant "${label}" not found\n`);
      return 1;
    }
    tenantIds = [id];
  }

  let opened: Awaited<ReturnType<typeof openServiceDatabase>>;
  try {
    opened = await openServiceDatabase(ctx, 'audit');
  } catch (err) {
    process.stderr.write(`gatehouse: cannot open the audit database (${describeDatabase(ctx.config, 'audit')}): ${failureMessage(err)}\n`);
    return 1;
  }
  try {
    // Loaded here, not at the top: usage errors and --help answer without loading the audit service.
    const { verifyAuditChains } = await import('@gatehouse/audit');
    const results = await verifyAuditChains(opened.db, tenantIds);
    const broken = results.filter((r) => !r.ok);
    if (parsed.values.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    } else if (results.length === 0) {
      process.stdout.write('ok: the audit log has no entries yet\n');
    } else {
      for (const r of results) {
        const name = label !== undefined && !isUuid(label) ? `${label} (${r.tenantId})` : r.tenantId;
        process.stdout.write(
          r.ok
            ? `ok      tenant ${name}: ${r.checked} entries\n`
            : `BROKEN  tenant ${name}: brokenAt seq ${r.brokenAt} (an entry is missing, altered or out of order; ${r.checked} checked)\n`,
        );
      }
    }
    return broken.length === 0 ? 0 : 1;
  } catch (err) {
    ctx.logger.debug({ err }, 'audit verify failed');
    process.stderr.write(`gatehouse: audit verify: ${failureMessage(err)}\n`);
    return 1;
  } finally {
    await opened.db.close();
  }
}
