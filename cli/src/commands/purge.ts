/**
 * `gatehouse purge`: deletes, once, what the services' background purge deletes on its
 * interval: ended sessions with their refresh tokens, spent one-time tokens, published outbox
 * rows and processed inbox rows past their retention (docs/operations.md, "Retention"). Uses
 * each service's own purge tasks on its database, in the same small batches, so it is safe
 * beside running replicas (on PostgreSQL).
 */
import { parseArgs } from 'node:util';
import type { Config } from '@gatehouse/platform/config';
import type { Database } from '@gatehouse/platform/db';
import { createPurger, outboxPurgeTasks, type PurgeReport, type PurgeTask } from '@gatehouse/platform/purge';
import { cliContext, describeDatabase, failureMessage, openServiceDatabase, parseOrUsage, selectedServices, type ServiceName } from './migrate';

const HELP = `Usage: gatehouse purge [--service auth|users|audit] [--json]

Deletes, once, the rows past their retention that every service also purges in the
background (every PURGE_INTERVAL_SEC): sessions that ended (expired, idle-expired or revoked)
more than PURGE_SESSIONS_AFTER_SEC ago with all their refresh tokens; one-time tokens used or
expired more than PURGE_ONE_TIME_TOKENS_AFTER_SEC ago; outbox rows published more than
PURGE_OUTBOX_AFTER_SEC ago; inbox rows processed more than PURGE_INBOX_AFTER_SEC ago.
Rows go in batches of PURGE_BATCH_SIZE, each its own short transaction, skipping rows in use.
Embedded (PGlite): stop "gatehouse start" first, a PGlite directory has one user at a time.

Options:
  --service <name>  only this service
  --json            print JSON: {"<service>": {"<schema.table>": rowsDeleted}}
  -h, --help        show this help

Exit status: 0 done; 1 a purge failed; 2 bad usage.
`;

/** Each service's purge tasks, loaded from the service only when it is purged. */
const serviceTasks: Record<ServiceName, (db: Database, config: Config) => Promise<PurgeTask[]>> = {
  auth: async (db, config) => (await import('@gatehouse/auth/operations')).authPurgeTasks(db, config.purge),
  users: async (db, config) => outboxPurgeTasks(db.admin, db.schema, config.purge),
  audit: async (db, config) => outboxPurgeTasks(db.admin, db.schema, config.purge),
};

/** `gatehouse purge`; returns the exit code. */
export async function purge(args: string[]): Promise<number> {
  const parsed = parseOrUsage(
    () => parseArgs({ args, options: { service: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }),
    HELP,
  );
  if (!parsed) return 2;
  const services = selectedServices(parsed.values, HELP);
  if (typeof services === 'number') return services;
  const ctx = cliContext();
  const reports: Partial<Record<ServiceName, PurgeReport>> = {};
  for (const service of services) {
    try {
      const { db } = await openServiceDatabase(ctx, service);
      try {
        const purger = createPurger({ tasks: await serviceTasks[service](db, ctx.config), intervalSec: 0, batchSize: ctx.config.purge.batchSize, logger: ctx.logger });
        reports[service] = await purger.runOnce();
      } finally {
        await db.close();
      }
    } catch (err) {
      ctx.logger.debug({ err, service }, 'purge failed');
      process.stderr.write(`gatehouse: ${service} (${describeDatabase(ctx.config, service)}): purge failed: ${failureMessage(err)}\n`);
      return 1;
    }
    if (!parsed.values.json) {
      const report = reports[service]!;
      const parts = Object.entries(report).map(([table, n]) => `${table} ${n}`);
      process.stdout.write(`${service}: deleted ${parts.join(', ')}\n`);
    }
  }
  if (parsed.values.json) process.stdout.write(`${JSON.stringify(reports)}\n`);
  return 0;
}
