/**
 * The audit service as one unit: `npm start` (all services in one process) and `main.ts`
 * (alone) both create it with {@link createAuditService}.
 */
import type { Config } from '@gatehouse/platform/config';
import type { Database } from './db/schema';
import type { RunningService } from '@gatehouse/platform/service';
import { buildApp } from './app';
import { createAuditDeps, type AuditOptions, type AuditSharedDeps } from './deps';
import { listChainTenants } from './modules/chain/chain.queries';
import { createChainService, type VerifyResult } from './modules/chain/chain.service';

export { AUDIT_SCHEMA, findMigrations as auditMigrationsDir } from './deps';

export type { AuditOptions, AuditSharedDeps };

/**
 * Opens the audit database (`AUDIT_DATABASE_URL`, else `DATABASE_URL` in schema `audit`, else
 * PGlite under `<DATA_DIR>/audit`), migrates it, starts the outbox relay and the durable
 * consumer `audit-ingest`, and returns the app (not yet listening) with its `close`.
 */
export async function createAuditService(config: Config, shared: AuditSharedDeps, opts: AuditOptions = {}): Promise<RunningService> {
  const deps = await createAuditDeps(config, shared, opts);
  let app;
  try {
    app = await buildApp(deps);
    await deps.start();
  } catch (err) {
    await deps.close().catch(() => {});
    throw err;
  }
  return { name: 'audit', app, close: () => deps.close() };
}

/**
 * Re-computes hash chains for `gatehouse audit verify`: the given tenants, or every tenant
 * with entries (listed on the owner connection: the command is cross-tenant by nature; each
 * chain is then read inside its own tenant transaction, as `GET /audit/verify` does).
 */
export async function verifyAuditChains(db: Database, tenantIds?: string[]): Promise<Array<VerifyResult & { tenantId: string }>> {
  const chain = createChainService({ db });
  const ids = tenantIds ?? (await listChainTenants(db.admin));
  const results: Array<VerifyResult & { tenantId: string }> = [];
  for (const tenantId of ids) results.push({ tenantId, ...(await chain.verify(tenantId)) });
  return results;
}
