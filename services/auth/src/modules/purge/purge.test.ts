/**
 * Regression (issue 9, defect 12): expired and revoked sessions, used refresh tokens (one row
 * per rotation), spent one-time tokens and published outbox rows were never deleted. The purge
 * removes what is past its retention, keeps what is live or recent, works across tenants
 * under RLS in small batches, and keeps the used refresh tokens of a live session: a reused
 * rotated token still revokes its session after a purge.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { decodeJwt } from 'jose';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { testServers } from '@gatehouse/platform/testing';
import { startAuth, type Harness } from '../../testing';

const REFRESH = '/api/v1/auth/refresh';
const DAY = 24 * 3600;

let h: Harness;
before(async () => {
  // no background run (it would race the test); batches of 2, so every task needs several
  h = await startAuth({ PURGE_INTERVAL_SEC: '0', PURGE_BATCH_SIZE: '2' });
});
after(async () => {
  await h?.close();
});

const sid = (accessToken: string) => decodeJwt(accessToken).sid as string;
const daysAgo = (d: number) => sql<Date>`now() - make_interval(secs => ${d * DAY})`;
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

async function count(table: 'sessions' | 'refresh_tokens' | 'one_time_tokens' | 'outbox' | 'inbox', column: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await h.deps.db.admin.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).where(sql.ref(column), 'in', ids).executeTakeFirstOrThrow();
  return Number(r.n);
}
async function tokensOf(sessionId: string): Promise<number> {
  const r = await h.deps.db.admin
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('session_id', '=', sessionId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A session with `rotations` refreshes behind it: its first refresh token and the current one. */
async function sessionWithRotations(rotations: number, tenant?: string) {
  const r = await h.register({ tenant });
  let current = r.refreshToken;
  for (let i = 0; i < rotations; i++) {
    const res = await h.request('POST', REFRESH, { body: { refreshToken: current }, tenant });
    assert.equal(res.statusCode, 200, res.body);
    current = res.json().refreshToken;
  }
  return { userId: r.userId, sessionId: sid(r.accessToken), first: r.refreshToken, current };
}

async function oneTimeToken(tenantId: string, userId: string, o: { expires: ReturnType<typeof daysAgo>; used?: ReturnType<typeof daysAgo> }) {
  const token_hash = hash(randomBytes(16).toString('hex'));
  await h.deps.db.admin
    .insertInto('one_time_tokens')
    .values({ token_hash, tenant_id: tenantId, user_id: userId, purpose: 'reset_password', new_email: null, expires_at: o.expires, used_at: o.used ?? null })
    .execute();
  return token_hash;
}

describe('purge (auth)', () => {
  test('ended sessions with all their refresh tokens, spent one-time tokens and old outbox/inbox rows go; live and recent ones stay', async () => {
    const other = await h.createTenant();
    const db = h.deps.db.admin;

    // sessions: live (rotated 3 times), and ended 8 days ago in each way, in two tenants
    const live = await sessionWithRotations(3);
    const expired = await sessionWithRotations(2);
    await db.updateTable('sessions').set({ expires_at: daysAgo(8), idle_expires_at: daysAgo(8) }).where('id', '=', expired.sessionId).execute();
    const idle = await sessionWithRotations(1);
    await db.updateTable('sessions').set({ idle_expires_at: daysAgo(8) }).where('id', '=', idle.sessionId).execute();
    const revoked = await sessionWithRotations(2);
    await db.updateTable('sessions').set({ revoked_at: daysAgo(8), revoke_reason: 'logout' }).where('id', '=', revoked.sessionId).execute();
    const revokedRecently = await sessionWithRotations(1);
    await db.updateTable('sessions').set({ revoked_at: daysAgo(1), revoke_reason: 'logout' }).where('id', '=', revokedRecently.sessionId).execute();
    const elsewhere = await sessionWithRotations(2, other.id);
    await db.updateTable('sessions').set({ expires_at: daysAgo(9), idle_expires_at: daysAgo(9) }).where('id', '=', elsewhere.sessionId).execute();
    const elsewhereLive = await sessionWithRotations(1, other.id);
    assert.equal(await tokensOf(live.sessionId), 4, 'one row per rotation, plus the current one');
    assert.equal(await tokensOf(expired.sessionId), 3);

    // one-time tokens
    const spent = await oneTimeToken(DEFAULT_TENANT_ID, live.userId, { expires: daysAgo(-1), used: daysAgo(2) });
    const lapsed = await oneTimeToken(DEFAULT_TENANT_ID, live.userId, { expires: daysAgo(2) });
    const lapsedElsewhere = await oneTimeToken(other.id, elsewhere.userId, { expires: daysAgo(3) });
    const pending = await oneTimeToken(DEFAULT_TENANT_ID, live.userId, { expires: daysAgo(-1) });
    const justUsed = await oneTimeToken(DEFAULT_TENANT_ID, live.userId, { expires: daysAgo(-1), used: daysAgo(0.01) });

    // outbox: published 2 days ago, published just now, never published (2 days old)
    const rows = await db.selectFrom('outbox').select('id').orderBy('created_at').limit(3).execute();
    const [oldPublished, recentPublished, unpublished] = rows.map((r) => String(r.id)) as [string, string, string];
    await db.updateTable('outbox').set({ published_at: daysAgo(2) }).where('id', '=', oldPublished).execute();
    await db.updateTable('outbox').set({ published_at: sql`now()` }).where('id', '=', recentPublished).execute();
    await db.updateTable('outbox').set({ published_at: null, created_at: daysAgo(2) }).where('id', '=', unpublished).execute();
    // inbox: processed 9 days ago (past the stream's 7 days), and just now
    const oldEvent = randomUUID();
    const newEvent = randomUUID();
    await db
      .insertInto('inbox')
      .values([
        { consumer: 'purge-test', event_id: oldEvent, processed_at: daysAgo(9) },
        { consumer: 'purge-test', event_id: newEvent },
      ])
      .execute();

    const report = await h.deps.purger.runOnce();

    // what went
    const gone = [expired, idle, revoked, elsewhere];
    assert.equal(await count('sessions', 'id', gone.map((s) => s.sessionId)), 0, 'ended sessions are gone');
    for (const s of gone) assert.equal(await tokensOf(s.sessionId), 0, 'with every refresh token of theirs');
    assert.equal(await count('one_time_tokens', 'token_hash', [spent, lapsed, lapsedElsewhere]), 0);
    assert.equal(await count('outbox', 'id', [oldPublished]), 0);
    assert.equal(await count('inbox', 'event_id', [oldEvent]), 0);
    assert.ok(report['auth.refresh_tokens']! >= 3 + 2 + 3 + 3, `refresh tokens purged: ${JSON.stringify(report)}`);
    assert.ok(report['auth.sessions']! >= 4);

    // what stays
    const kept = [live, revokedRecently, elsewhereLive];
    assert.equal(await count('sessions', 'id', kept.map((s) => s.sessionId)), 3, 'live and recently ended sessions stay');
    assert.equal(await tokensOf(live.sessionId), 4, "a live session keeps its used refresh tokens (reuse detection needs them)");
    assert.equal(await tokensOf(revokedRecently.sessionId), 2);
    assert.equal(await count('one_time_tokens', 'token_hash', [pending, justUsed]), 2);
    assert.equal(await count('outbox', 'id', [recentPublished, unpublished]), 2, 'recent and unpublished outbox rows stay');
    assert.equal(await count('inbox', 'event_id', [newEvent]), 1);

    // a second run finds nothing more
    const again = await h.deps.purger.runOnce();
    assert.equal(again['auth.sessions'], 0);
    assert.equal(again['auth.refresh_tokens'], 0);

    // the live session still works, and a reused rotated token of it still revokes it
    const reuse = await h.request('POST', REFRESH, { body: { refreshToken: live.first } });
    assert.equal(reuse.statusCode, 401);
    assert.equal(reuse.json().code, 'refresh_token_reused');
    const after = await h.request('POST', REFRESH, { body: { refreshToken: live.current } });
    assert.equal(after.statusCode, 401, 'the session was revoked by the reuse');
    const s = await db.selectFrom('sessions').select('revoked_at').where('id', '=', live.sessionId).executeTakeFirstOrThrow();
    assert.ok(s.revoked_at, 'revoked');
  });

  const onePglite = testServers.databaseUrl ? false : 'PGlite is one connection: a second transaction cannot hold a lock meanwhile';
  test('a row in use is skipped, not waited for: the purge finishes while another transaction holds it', { skip: onePglite }, async () => {
    const victim = await sessionWithRotations(1);
    const bystander = await sessionWithRotations(1);
    const db = h.deps.db.admin;
    await db
      .updateTable('sessions')
      .set({ expires_at: daysAgo(30), idle_expires_at: daysAgo(30) })
      .where('id', 'in', [victim.sessionId, bystander.sessionId])
      .execute();
    // hold the victim's session and tokens as a request would, while the purge runs
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction().execute(async (trx) => {
      await trx.selectFrom('sessions').select('id').where('id', '=', victim.sessionId).forUpdate().execute();
      await trx.selectFrom('refresh_tokens').select('token_hash').where('session_id', '=', victim.sessionId).forUpdate().execute();
      locked();
      await held;
    });
    await isLocked;
    try {
      await h.deps.purger.runOnce();
      assert.equal(await count('sessions', 'id', [bystander.sessionId]), 0, 'what was free went');
      assert.equal(await count('sessions', 'id', [victim.sessionId]), 1, 'what was held was skipped');
    } finally {
      release();
      await holder;
    }
    await h.deps.purger.runOnce();
    assert.equal(await count('sessions', 'id', [victim.sessionId]), 0, 'and goes on the next run');
    assert.equal(await tokensOf(victim.sessionId), 0);
  });
});
