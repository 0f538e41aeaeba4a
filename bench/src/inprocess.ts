/**
 * A benchmark that runs inside the bench process: the audit service's ingestion throughput
 * (the cost of row-level security, once here too, is in rls.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { loadConfig, createSharedDeps, closeSharedDeps, makeEvent, startService } from '@gatehouse/platform';
import { auditService } from '@gatehouse/audit';

const logger = pino({ level: 'silent' });

/** Publishes events for one tenant into an in-process audit service and times their ingestion. */
export async function measureIngestion(url?: string) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-bench-audit-'));
  const schemaReset = async () => {
    if (!url) return;
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('drop schema if exists audit cascade');
    await c.end();
  };
  await schemaReset();
  const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: url, GATEHOUSE_SECRET: 'bench-secret-bench-secret-bench-secret', LOG_LEVEL: 'silent' });
  const shared = await createSharedDeps(config, logger);
  const noTokens = async (): Promise<never> => {
    throw new Error('no tokens in this benchmark');
  };
  const audit = await startService(auditService, config, { ...shared, verificationKeys: noTokens });
  const events = 3000;
  const tenant = randomUUID();
  const counter = () => shared.registry.getSingleMetric('gatehouse_audit_ingested_total')!.get().then((m) => m.values[0]?.value ?? 0);
  const start = await counter();
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    await shared.transport.publish(
      makeEvent({ source: 'bench', type: 'user.events.updated', tenantId: tenant, subject: randomUUID(), data: { id: randomUUID(), email: `u${i}@example.com`, username: null, action: 'updated' } }),
    );
  }
  while ((await counter()) - start < events) {
    if (performance.now() - t0 > 300_000) throw new Error('ingestion did not finish in 5 minutes');
    await sleep(20);
  }
  const seconds = (performance.now() - t0) / 1000;
  await audit.close();
  await closeSharedDeps(shared);
  await rm(dataDir, { recursive: true, force: true });
  return { events, seconds, perSec: events / seconds, transport: shared.transport.kind };
}
