/**
 * `gatehouse purge` as a child process (issue 9, defect 12): on a migrated installation it
 * deletes an ended session with its refresh tokens and an old published outbox row in every
 * service, keeps a live session and an unpublished row, and says what it deleted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { PlatformTables } from '@gatehouse/platform/schema';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import type { AuthTables as AuthDB } from '@gatehouse/auth/operations';
import { cliContext, openServiceDatabase, SERVICE_NAMES } from './migrate';
import { freshInstallation, runCli } from './testing';

/** The auth tables on a handle the CLI opens with only the platform's tables typed (its schema is chosen at run time). */
const authTables = (admin: Kysely<PlatformTables>) => admin.withTables<Pick<AuthDB, 'users' | 'sessions' | 'refresh_tokens'>>();
const daysAgo = (d: number) => sql<Date>`now() - make_interval(secs => ${d * 86400})`;

describe('gatehouse purge', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install?.cleanup();
  });

  test('usage errors exit 2; --help exits 0', async () => {
    assert.equal((await runCli(['purge', '--service', 'gateway'], install.env)).code, 2);
    assert.equal((await runCli(['purge', '--bogus'], install.env)).code, 2);
    const help = await runCli(['purge', '--help'], install.env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /PURGE_SESSIONS_AFTER_SEC/);
  });

  test('deletes what is past its retention in every service, keeps the rest', async () => {
    assert.equal((await runCli(['migrate'], install.env)).code, 0);
    const ctx = cliContext({ ...install.env, LOG_LEVEL: 'silent' });
    const ids = { user: randomUUID(), ended: randomUUID(), live: randomUUID() };
    const outbox: Record<string, { old: string; pending: string }> = {};
    // fill each service's tables directly (the owner connection: the fixtures are cross-tenant)
    for (const service of SERVICE_NAMES) {
      const { db } = await openServiceDatabase(ctx, service);
      try {
        if (service === 'auth') {
          await authTables(db.admin)
            .insertInto('users')
            .values({ id: ids.user, tenant_id: DEFAULT_TENANT_ID, email: `${ids.user}@example.test` })
            .execute();
          await authTables(db.admin)
            .insertInto('sessions')
            .values([
              { id: ids.ended, tenant_id: DEFAULT_TENANT_ID, user_id: ids.user, expires_at: daysAgo(10), idle_expires_at: daysAgo(10) },
              { id: ids.live, tenant_id: DEFAULT_TENANT_ID, user_id: ids.user, expires_at: daysAgo(-10), idle_expires_at: daysAgo(-1) },
            ])
            .execute();
          await authTables(db.admin)
            .insertInto('refresh_tokens')
            .values([
              { token_hash: `e1-${ids.ended}`, tenant_id: DEFAULT_TENANT_ID, session_id: ids.ended, used_at: daysAgo(11) },
              { token_hash: `e2-${ids.ended}`, tenant_id: DEFAULT_TENANT_ID, session_id: ids.ended },
              { token_hash: `l1-${ids.live}`, tenant_id: DEFAULT_TENANT_ID, session_id: ids.live, used_at: daysAgo(1) },
              { token_hash: `l2-${ids.live}`, tenant_id: DEFAULT_TENANT_ID, session_id: ids.live },
            ])
            .execute();
        }
        outbox[service] = { old: randomUUID(), pending: randomUUID() };
        await db.admin
          .insertInto('outbox')
          .values([
            { id: outbox[service].old, subject: 'test.events.x', payload: '{}', created_at: daysAgo(3), published_at: daysAgo(2) },
            { id: outbox[service].pending, subject: 'test.events.x', payload: '{}', created_at: daysAgo(3) },
          ])
          .execute();
      } finally {
        await db.close();
      }
    }

    const r = await runCli(['purge', '--json'], install.env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
    assert.equal(report.auth!['auth.sessions'], 1);
    assert.equal(report.auth!['auth.refresh_tokens'], 2);
    for (const service of SERVICE_NAMES) assert.equal(report[service]![`${service}.outbox`], 1, service);

    for (const service of SERVICE_NAMES) {
      const { db } = await openServiceDatabase(ctx, service);
      try {
        const left = await db.admin.selectFrom('outbox').select('id').where('id', 'in', [outbox[service]!.old, outbox[service]!.pending]).execute();
        assert.deepEqual(left.map((x) => x.id), [outbox[service]!.pending], `${service}: the unpublished row stays`);
        if (service === 'auth') {
          const sessions = await authTables(db.admin).selectFrom('sessions').select('id').where('id', 'in', [ids.ended, ids.live]).execute();
          assert.deepEqual(sessions.map((x) => x.id), [ids.live]);
          const tokens = await authTables(db.admin).selectFrom('refresh_tokens').select('token_hash').where('session_id', 'in', [ids.ended, ids.live]).orderBy('token_hash').execute();
          assert.deepEqual(tokens.map((x) => x.token_hash), [`l1-${ids.live}`, `l2-${ids.live}`], 'the live session keeps its used token too');
        }
      } finally {
        await db.close();
      }
    }

    const text = await runCli(['purge', '--service', 'auth'], install.env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^auth: deleted auth\.refresh_tokens 0, auth\.sessions 0, auth\.one_time_tokens 0, auth\.oidc_payloads 0, auth\.webhook_attempts 0, auth\.webhook_deliveries 0, auth\.outbox 0, auth\.inbox 0\n$/);
  });
});
