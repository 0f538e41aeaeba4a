/**
 * The audit service's contract (the package's entry point): what the all-in-one starter,
 * `main.ts`, the CLI and the tests build. `create` opens the audit database
 * (`AUDIT_DATABASE_URL`, else `DATABASE_URL` in schema `audit`, else PGlite under
 * `<DATA_DIR>/audit`), migrates it and builds the app; `start` runs the outbox relay and the
 * durable consumer `audit-ingest`.
 */
import type { Config } from '@gatehouse/platform/config';
import type { Database, DB } from './db/schema';
import { findMigrationsDir } from '@gatehouse/platform/migrations';
import { assembleService, buildOrClose, openServiceDatabase, verificationKeys, type ServiceDefinition, type ServiceInstance } from '@gatehouse/platform/service';
import { buildApp } from './app';
import { AUDIT_SCHEMA, createAuditDeps, type AuditDeps, type AuditOptions, type AuditSharedDeps } from './deps';
import { listChainTenants } from './modules/chain/chain.queries';
import { createChainService, type VerifyResult } from './modules/chain/chain.service';
import { createAuditGrpc } from './modules/grpc/grpc.service';

export type { AuditDeps, AuditOptions, AuditSharedDeps } from './deps';

async function create(config: Config, shared: AuditSharedDeps, options: AuditOptions = {}): Promise<ServiceInstance<AuditDeps>> {
  const keys = verificationKeys(config, shared, { service: 'audit', required: true });
  const logger = shared.logger.child({ service: 'audit' });
  const given = options.database;
  const db = given ?? (await openServiceDatabase<DB>(config, auditService, { logger, migrate: false })).db;
  // a database given by the caller stays open: it is the caller's
  const closeDb = async () => {
    if (!given) await db.close();
  };
  await buildOrClose(() => db.migrate(auditService.migrationsDir!), closeDb);
  return assembleService({
    name: 'audit',
    deps: () => createAuditDeps({ config, shared, db, keys, options }),
    app: buildApp,
    grpc: (d) => createAuditGrpc({ social: d.social }),
    release: closeDb,
  });
}

/** The audit service: the append-only, hash-chained audit trail and the social log. */
export const auditService: ServiceDefinition<AuditDeps, AuditOptions, AuditSharedDeps> = {
  name: 'audit',
  schema: AUDIT_SCHEMA,
  migrationsDir: findMigrationsDir(import.meta.url, 'audit'),
  defaultPort: 3003,
  create,
};

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
