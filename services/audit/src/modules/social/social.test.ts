import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  countEntries,
  createAuditTestDatabase,
  createTestShared,
  createTestTokens,
  createTestTransport,
  eventually,
  startAudit,
  testEvent,
} from '../../testing';
import type { AuditEntry } from '../chain/chain.schemas';

describe('social log over HTTP', () => {
  let t: Awaited<ReturnType<typeof createAuditTestDatabase>>;
  let tt: Awaited<ReturnType<typeof createTestTransport>>;
  let shared: Awaited<ReturnType<typeof createTestShared>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let tokens: Awaited<ReturnType<typeof createTestTokens>>;
  const A = randomUUID();
  const B = randomUUID();
  const alice = randomUUID();
  const bob = randomUUID();
  const tok = {} as Record<'alice' | 'bob' | 'adminA' | 'carol', string>;

  function post(token: string | undefined, payload: unknown, headers: Record<string, string> = {}) {
    return audit.app.inject({
      method: 'POST',
      url: '/api/v1/social-logs',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(typeof payload === 'string' ? { payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } } : { payload: payload as object }),
    });
  }
  function list(token: string, qs = '') {
    return audit.app.inject({ method: 'GET', url: `/api/v1/social-logs${qs}`, headers: { authorization: `Bearer ${token}` } });
  }

  before(async () => {
    t = await createAuditTestDatabase();
    tt = await createTestTransport();
    shared = await createTestShared(tt.transport);
    tokens = await createTestTokens();
    audit = await startAudit(t.db, shared, { jwks: tokens.jwks, socialRateLimit: { max: 5, windowMs: 60_000 } });
    tok.alice = await tokens.mint({ sub: alice, tid: A });
    tok.bob = await tokens.mint({ sub: bob, tid: A });
    tok.adminA = await tokens.mint({ sub: randomUUID(), tid: A, roles: ['admin'] });
    tok.carol = await tokens.mint({ sub: randomUUID(), tid: B });
  });

  after(async () => {
    await audit.close();
    await shared.close();
    await tt.cleanup();
    await t.drop();
  });

  test('POST records who, what, when and where into the chain and returns the entry', async () => {
    const post1 = randomUUID();
    const res = await post(tok.alice, { type: 'post.liked', targetId: post1, data: { reaction: 'heart' } }, {
      'user-agent': 'GatehouseTest/2.0',
      'x-request-id': 'social-req-1',
      'x-forwarded-for': '198.51.100.23',
    });
    assert.equal(res.statusCode, 201);
    const e = res.json() as AuditEntry;
    assert.equal(e.type, 'social.events.post.liked');
    assert.equal(e.tenantId, A);
    assert.equal(e.actorId, alice);
    assert.equal(e.subjectId, post1);
    assert.equal(e.ip, '198.51.100.23');
    assert.equal(e.userAgent, 'GatehouseTest/2.0');
    assert.equal(e.requestId, 'social-req-1');
    assert.deepEqual(e.data, { reaction: 'heart' });
    assert.match(e.hash, /^[0-9a-f]{64}$/);
    assert.ok(Date.now() - Date.parse(e.occurredAt) < 10_000);
    assert.equal(res.headers['ratelimit-limit'], '5');
  });

  test('the published social event comes back through the consumer and adds no second entry', async () => {
    const res = await post(tok.bob, { type: 'user.followed', targetId: alice });
    assert.equal(res.statusCode, 201);
    const entry = res.json() as AuditEntry;
    // the outbox row is published ...
    await eventually(async () => {
      const row = await t.db.admin.selectFrom('outbox').select('published_at').where('id', '=', entry.eventId).executeTakeFirstOrThrow();
      assert.ok(row.published_at);
    });
    // ... and consumed: the consumer handles events in order, so once a marker published
    // after it is in the log, the social event has been seen too
    const marker = testEvent(A, 'auth.events.logout', { userId: bob });
    await tt.transport.publish(marker);
    await eventually(async () => assert.equal(await countEntries(t.db, A, { eventId: marker.id }), 1), 20_000);
    assert.equal(await countEntries(t.db, A, { eventId: entry.eventId }), 1);
    const metrics = await shared.registry.getSingleMetricAsString('gatehouse_audit_duplicates_total');
    assert.match(metrics, /gatehouse_audit_duplicates_total [1-9]/);
  });

  test('secret-looking keys in data are not stored', async () => {
    const res = await post(tok.bob, { type: 'comment.posted', data: { text: 'hi', password: 'p4ss-w0rd', nested: { apiToken: 'tok-123' } } });
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json().data, { text: 'hi', nested: {} });
  });

  test('bad input: 400 validation_failed or malformed_json, never a 500', async () => {
    const bad: unknown[] = [
      {},
      { type: 'Post.Liked' },
      { type: 'post' },
      { type: 'post.' },
      { type: '1post.liked' },
      { type: 'post.liked!' },
      { type: 'social.events.post liked' },
      { type: 'post.liked', data: 'text' },
      { type: 'post.liked', data: [1, 2] },
      { type: 'post.liked', targetId: '' },
      { type: 'post.liked', targetId: 'x'.repeat(201) },
      { type: `a.${'b'.repeat(100)}` },
    ];
    for (const body of bad) {
      const res = await post(tok.adminA, body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().code, 'validation_failed', JSON.stringify(body));
    }
    const malformed = await post(tok.adminA, '{"type": "post.liked",');
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().code, 'malformed_json');
  });

  test('data over 8 KiB is refused, at 8 KiB accepted', async () => {
    const big = await post(tok.adminA, { type: 'doc.saved', data: { blob: 'x'.repeat(8 * 1024) } });
    assert.equal(big.statusCode, 400);
    assert.equal(big.json().code, 'validation_failed');
    assert.equal(big.json().errors[0].path, 'body.data');
    const fits = await post(tok.adminA, { type: 'doc.saved', data: { blob: 'x'.repeat(8 * 1024 - 11) } });
    assert.equal(fits.statusCode, 201);
  });

  test('strings the database cannot hold (NUL, lone surrogates): 400 validation_failed naming the field, not a 500', async () => {
    // the platform refuses them in every request before any handler (issue 9); events from
    // other services are still cleaned on ingestion (chain.sanitize)
    for (const raw of ['{"type":"note.added","data":{"t":"a\\u0000b"}}', '{"type":"note.added","data":{"t":"b\\ud800c"}}']) {
      const res = await post(tok.adminA, raw);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'validation_failed');
      assert.equal(res.json().errors[0].path, 'body.data.t');
    }
  });

  test('per-user rate limit: 429 rate_limited with Retry-After; other users unaffected', async () => {
    const user = randomUUID();
    const token = await tokens.mint({ sub: user, tid: A });
    for (let i = 0; i < 5; i++) assert.equal((await post(token, { type: 'post.viewed' })).statusCode, 201);
    const limited = await post(token, { type: 'post.viewed' });
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().code, 'rate_limited');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(limited.headers['ratelimit-remaining'], '0');
    assert.equal(await countEntries(t.db, A, { type: 'social.events.post.viewed' }), 5);
    assert.equal((await post(tok.carol, { type: 'post.viewed' })).statusCode, 201);
  });

  test('without a token: 401', async () => {
    const res = await post(undefined, { type: 'post.liked' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'invalid_token');
    assert.equal((await audit.app.inject({ method: 'GET', url: '/api/v1/social-logs' })).statusCode, 401);
  });

  test("GET lists only the tenant's social entries, with filters and pages", async () => {
    await audit.deps.ingest.handle(testEvent(A, 'auth.events.login_succeeded', { userId: alice }));
    const target = randomUUID();
    for (let i = 0; i < 3; i++) assert.equal((await post(tok.alice, { type: 'photo.shared', targetId: target, data: { i } })).statusCode, 201);
    const all = (await list(tok.alice, '?limit=200')).json().items as AuditEntry[];
    assert.ok(all.length >= 5);
    assert.ok(all.every((e) => e.type.startsWith('social.events.') && e.tenantId === A));
    const mine = (await list(tok.bob, `?actorId=${alice}&type=photo.shared`)).json().items as AuditEntry[];
    assert.equal(mine.length, 3);
    assert.deepEqual(mine.map((e) => e.data.i), [2, 1, 0]);
    assert.equal(((await list(tok.bob, `?targetId=${target}`)).json().items as AuditEntry[]).length, 3);
    // pages
    const p1 = (await list(tok.bob, '?limit=2')).json();
    const p2 = (await list(tok.bob, `?limit=2&cursor=${p1.nextCursor}`)).json();
    assert.equal(p1.items.length, 2);
    assert.ok(p2.items[0].seq < p1.items[1].seq);
    // another tenant sees none of A's
    const other = (await list(tok.carol, '?limit=200')).json().items as AuditEntry[];
    assert.ok(other.every((e) => e.tenantId === B));
    // bad filters
    assert.equal((await list(tok.bob, '?type=Photo')).statusCode, 400);
  });

  test("users see other users' social entries without their IP address and user agent; admins and the actor see them", async () => {
    const res = await post(tok.alice, { type: 'status.updated' }, { 'user-agent': 'AliceBrowser/1', 'x-forwarded-for': '203.0.113.99' });
    const id = (res.json() as AuditEntry).id;
    const find = async (token: string) => ((await list(token, `?actorId=${alice}&type=status.updated`)).json().items as AuditEntry[]).find((e) => e.id === id)!;
    assert.equal((await find(tok.bob)).ip, null);
    assert.equal((await find(tok.bob)).userAgent, null);
    assert.equal((await find(tok.alice)).ip, '203.0.113.99');
    assert.equal((await find(tok.adminA)).userAgent, 'AliceBrowser/1');
  });

  test('social entries and ingested events share one chain that verifies', async () => {
    assert.deepEqual(await audit.deps.chain.verify(A), { ok: true, checked: await countEntries(t.db, A) });
    const res = await audit.app.inject({ method: 'GET', url: '/api/v1/audit/verify', headers: { authorization: `Bearer ${tok.adminA}` } });
    assert.equal(res.json().ok, true);
  });
});
