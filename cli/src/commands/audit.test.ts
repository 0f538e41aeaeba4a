/**
 * `gatehouse audit verify` as child processes: intact chains of two tenants verify (all, or one
 * by slug), an entry altered behind the log's back is found (brokenAt, exit 1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { createChainService } from '@gatehouse/audit/testing';
import { cliContext, openServiceDatabase } from './migrate';
import { freshInstallation, hasStack, runCli } from './testing';

/** Appends `n` entries to `tenantId`'s chain through the audit service's own append. */
async function appendEntries(env: Record<string, string | undefined>, tenantId: string, n: number): Promise<void> {
  const { db } = await openServiceDatabase(cliContext({ ...env, LOG_LEVEL: 'silent' }), 'audit');
  try {
    const chain = createChainService({ db });
    for (let i = 0; i < n; i++) {
      await chain.append(tenantId, {
        eventId: randomUUID(),
        type: 'social.events.post_liked',
        actorId: randomUUID(),
        subjectId: null,
        ip: '127.0.0.1',
        userAgent: 'cli-test',
        requestId: null,
        data: { n: i },
        occurredAt: new Date(),
      });
    }
  } finally {
    await db.close();
  }
}

describe('gatehouse audit verify', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  const other = randomUUID();
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install?.cleanup();
  });

  test('before any migration: exit 1 with the hint to migrate; usage errors exit 2', async () => {
    const r = await runCli(['audit', 'verify'], install.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run "gatehouse migrate" first/);
    assert.equal(hasStack(r.stderr), false, r.stderr);
    const bad = await runCli(['audit', 'repair'], install.env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown audit command "repair"/);
  });

  test('intact chains: every tenant ok (exit 0); --tenant by slug checks only that one', async () => {
    const migrated = await runCli(['migrate'], install.env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const empty = await runCli(['audit', 'verify'], install.env);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, 'ok: the audit log has no entries yet\n');

    await appendEntries(install.env, DEFAULT_TENANT_ID, 3);
    await appendEntries(install.env, other, 2);
    const all = await runCli(['audit', 'verify', '--json'], install.env);
    assert.equal(all.code, 0, all.stderr);
    const results = (JSON.parse(all.stdout) as Array<{ tenantId: string; ok: boolean; checked: number }>).sort((a, b) => a.checked - b.checked);
    assert.deepEqual(results, [
      { tenantId: other, ok: true, checked: 2 },
      { tenantId: DEFAULT_TENANT_ID, ok: true, checked: 3 },
    ]);
    const one = await runCli(['audit', 'verify', '--tenant', 'default'], install.env);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `ok      tenant default (${DEFAULT_TENANT_ID}): 3 entries\n`);
    const unknown = await runCli(['audit', 'verify', '--tenant', 'nope'], install.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /tenant "nope" not found/);
  });

  test('an entry altered behind the log (trigger disabled by the owner): brokenAt names it, exit 1', async () => {
    const { db } = await openServiceDatabase(cliContext({ ...install.env, LOG_LEVEL: 'silent' }), 'audit');
    try {
      await db.admin.transaction().execute(async (trx) => {
        await sql`alter table audit.entries disable trigger entries_append_only`.execute(trx);
        await sql`update audit.entries set data = '{"n": 99}'::jsonb where tenant_id = ${other} and seq = 2`.execute(trx);
        await sql`alter table audit.entries enable trigger entries_append_only`.execute(trx);
      });
    } finally {
      await db.close();
    }
    const r = await runCli(['audit', 'verify'], install.env);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`^BROKEN  tenant ${other}: brokenAt seq 2 `, 'm'));
    assert.match(r.stdout, new RegExp(`^ok      tenant ${DEFAULT_TENANT_ID}: 3 entries$`, 'm'), 'the other chain is still fine');
    const onlyDefault = await runCli(['audit', 'verify', '--tenant', DEFAULT_TENANT_ID], install.env);
    assert.equal(onlyDefault.code, 0, 'a tenant id works as --tenant too, and that chain is intact');
  });
});
