import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createDatabase } from '@gatehouse/platform/db';
import type { DB } from './db/schema';
import { createTestDatabase, testLogger } from '@gatehouse/platform/testing';
import { AUDIT_SCHEMA } from './deps';
import { auditService, verifyAuditChains } from './service';
import { createChainService } from './modules/chain/chain.service';

describe('verifyAuditChains (gatehouse audit verify)', () => {
  let dir: string;
  let pg: Awaited<ReturnType<typeof createTestDatabase>>;
  const good = randomUUID();
  /** The audit store as `gatehouse audit verify` opens it (PGlite data dir or PostgreSQL). */
  const open = () => createDatabase<DB>({ url: pg.url, dataDir: pg.url ? undefined : path.join(dir, 'audit'), schema: AUDIT_SCHEMA, logger: testLogger });
  const bad = randomUUID();

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'audit-cli-'));
    pg = await createTestDatabase();
    const db = await open();
    await db.migrate(auditService.migrationsDir!);
    const chain = createChainService({ db });
    const entry = (n: number) => ({ eventId: randomUUID(), type: 'user.events.created', actorId: null, subjectId: null, ip: null, userAgent: null, requestId: null, data: { n }, occurredAt: new Date() });
    for (let i = 0; i < 3; i++) await chain.append(good, entry(i));
    for (let i = 0; i < 3; i++) await chain.append(bad, entry(i));
    await db.admin.transaction().execute(async (trx) => {
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries disable trigger entries_append_only`).execute(trx);
      await sql`update entries set data = '{"n": 7}'::jsonb where tenant_id = ${bad} and seq = 2`.execute(trx);
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries enable trigger entries_append_only`).execute(trx);
    });
    await db.close();
  });
  after(async () => {
    await pg.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('verifyAuditChains reports every chain: the altered one by its seq', async () => {
    const db = await open();
    try {
      const results = await verifyAuditChains(db);
      assert.deepEqual(results.find((r) => r.tenantId === good), { tenantId: good, ok: true, checked: 3 });
      assert.deepEqual(results.find((r) => r.tenantId === bad), { tenantId: bad, ok: false, checked: 2, brokenAt: 2 });
      assert.deepEqual(await verifyAuditChains(db, [good]), [{ tenantId: good, ok: true, checked: 3 }]);
      assert.deepEqual(await verifyAuditChains(db, [randomUUID()]).then((r) => r.map((x) => x.checked)), [0]);
    } finally {
      await db.close();
    }
  });

  test('the contract names the migrations of this service', () => {
    assert.match(auditService.migrationsDir!, /services[/\\]audit[/\\]migrations$/);
  });
});
