import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAuditTestDatabase, createTestShared, createTestTokens, createTestTransport, startAudit, testEvent } from '../../testing';
import type { DailyStats } from './stats.schemas';

const DAY_MS = 86_400_000;

describe('dashboard figures: GET /api/v1/audit/stats/daily', () => {
  let t: Awaited<ReturnType<typeof createAuditTestDatabase>>;
  let tt: Awaited<ReturnType<typeof createTestTransport>>;
  let shared: Awaited<ReturnType<typeof createTestShared>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let tokens: Awaited<ReturnType<typeof createTestTokens>>;
  const A = randomUUID();
  const B = randomUUID();
  const tok = {} as Record<'adminA' | 'adminB' | 'user' | 'organizer', string>;
  // noon UTC today and yesterday, and a day outside the 30-day window
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const todayAt = (h: number) => new Date(Math.min(today + h * 3_600_000, now.getTime()));
  const yesterday = new Date(today - DAY_MS + 12 * 3_600_000);
  const longAgo = new Date(today - 40 * DAY_MS);
  const dayOf = (d: number) => new Date(d).toISOString().slice(0, 10);

  async function get(path: string, token: string) {
    return audit.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } });
  }

  before(async () => {
    t = await createAuditTestDatabase();
    tt = await createTestTransport();
    shared = await createTestShared(tt.transport);
    tokens = await createTestTokens();
    audit = await startAudit(t.db, shared, { jwks: tokens.jwks });
    const admin = randomUUID();
    tok.adminA = await tokens.mint({ sub: admin, tid: A, roles: ['admin'] });
    tok.adminB = await tokens.mint({ sub: randomUUID(), tid: B, roles: ['admin'] });
    tok.user = await tokens.mint({ sub: randomUUID(), tid: A });
    tok.organizer = await tokens.mint({ sub: randomUUID(), tid: A, roles: ['organizer'] });
    const [u1, u2, u3, stranger] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const at = (h: number) => ({ time: todayAt(h) });
    // what the auth service publishes for: 2 self-registrations and 1 admin-created account
    // today, 2 sign-ins of u1 and 1 of u2, 2 failed sign-ins (one of an account nobody used),
    // a profile change by u3; yesterday a sign-up and a sign-in of u3; 40 days ago a sign-in
    const events = [
      testEvent(A, 'user.events.created', { id: u1, action: 'created' }, { subject: u1, ...at(0) }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u1, reason: 'registration' }, { subject: u1, ...at(0) }),
      testEvent(A, 'user.events.created', { id: u2, action: 'created' }, { subject: u2, ...at(0) }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u2, reason: 'registration' }, { subject: u2, ...at(0) }),
      testEvent(A, 'user.events.created', { id: randomUUID(), actorId: admin, action: 'created' }, at(0)),
      testEvent(A, 'auth.events.login_succeeded', { userId: u1 }, { subject: u1, ...at(0) }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u1 }, { subject: u1, ...at(0) }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u2 }, { subject: u2, ...at(0) }),
      testEvent(A, 'auth.events.login_failed', { userId: u2, reason: 'invalid_credentials' }, { subject: u2, ...at(0) }),
      testEvent(A, 'auth.events.login_failed', { userId: stranger, reason: 'invalid_credentials' }, { subject: stranger, ...at(0) }),
      testEvent(A, 'profile.events.updated', { userId: u3 }, { subject: u3, ...at(0) }),
      testEvent(A, 'user.events.created', { id: u3, action: 'created' }, { subject: u3, time: yesterday }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u3 }, { subject: u3, time: yesterday }),
      testEvent(A, 'auth.events.login_succeeded', { userId: u3 }, { subject: u3, time: longAgo }),
      // tenant B: never in A's figures
      testEvent(B, 'user.events.created', { id: randomUUID() }, { subject: randomUUID(), ...at(0) }),
      testEvent(B, 'auth.events.login_failed', { userId: u1 }, { subject: u1, ...at(0) }),
    ];
    for (const e of events) assert.equal(await audit.deps.ingest.handle(e), 'ingested');
  });

  after(async () => {
    await audit.close();
    await shared.close();
    await tt.cleanup();
    await t.drop();
  });

  test('the figures match the events: 30 UTC days ending today, zeros where nothing happened', async () => {
    const res = await get('/api/v1/audit/stats/daily', tok.adminA);
    assert.equal(res.statusCode, 200, res.body);
    const body: DailyStats = res.json();
    assert.equal(body.timezone, 'UTC');
    assert.equal(body.items.length, 30);
    assert.equal(body.to, dayOf(today));
    assert.equal(body.from, dayOf(today - 29 * DAY_MS));
    assert.deepEqual(body.items.map((i) => i.day), Array.from({ length: 30 }, (_, k) => dayOf(today - (29 - k) * DAY_MS)));
    // today: actors u1, u2, the admin (created an account), u3 (profile); the failed sign-ins count no actor
    assert.deepEqual(body.items[29], { day: dayOf(today), signUps: 3, signIns: 3, failedSignIns: 2, activeUsers: 4 });
    assert.deepEqual(body.items[28], { day: dayOf(today - DAY_MS), signUps: 1, signIns: 1, failedSignIns: 0, activeUsers: 1 });
    for (const i of body.items.slice(0, 28)) assert.deepEqual([i.signUps, i.signIns, i.failedSignIns, i.activeUsers], [0, 0, 0, 0], i.day);
  });

  test('?days= narrows or widens the window (the 40-day-old sign-in shows in 60 days)', async () => {
    const one: DailyStats = (await get('/api/v1/audit/stats/daily?days=1', tok.adminA)).json();
    assert.equal(one.items.length, 1);
    assert.equal(one.items[0]!.signIns, 3);
    const wide: DailyStats = (await get('/api/v1/audit/stats/daily?days=60', tok.adminA)).json();
    assert.equal(wide.items.length, 60);
    assert.equal(wide.items.find((i) => i.day === dayOf(today - 40 * DAY_MS))?.signIns, 1);
  });

  test("tenant B's admin sees B's figures only", async () => {
    const b: DailyStats = (await get('/api/v1/audit/stats/daily', tok.adminB)).json();
    assert.deepEqual(b.items[29], { day: dayOf(today), signUps: 1, signIns: 0, failedSignIns: 1, activeUsers: 1 });
    assert.equal(b.items.slice(0, 29).reduce((n, i) => n + i.signUps + i.signIns + i.failedSignIns + i.activeUsers, 0), 0);
  });

  test('bad input: 400 validation_failed problem+json; users and organizers: 403', async () => {
    for (const q of ['days=0', 'days=367', 'days=abc', 'days=1.5']) {
      const res = await get(`/api/v1/audit/stats/daily?${q}`, tok.adminA);
      assert.equal(res.statusCode, 400, q);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      assert.equal(res.json().code, 'validation_failed', q);
    }
    for (const who of ['user', 'organizer'] as const) {
      const res = await get('/api/v1/audit/stats/daily', tok[who]);
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'forbidden');
    }
  });
});
