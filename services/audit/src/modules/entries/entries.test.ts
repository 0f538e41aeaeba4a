import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { AUDIT_SCHEMA } from '../../deps';
import { createAuditTestDatabase, createTestShared, createTestTokens, createTestTransport, startAudit, testEvent } from '../../testing';
import type { AuditEntry } from '../chain/chain.schemas';
import { csvCell, exportFormat } from './entries.export';

type Started = Awaited<ReturnType<typeof startAudit>>;

describe('export helpers (pure)', () => {
  test('CSV cells are quoted per RFC 4180 and formula-injection safe', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(42), '42');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
    assert.equal(csvCell('=HYPERLINK("http://x")'), `"'=HYPERLINK(""http://x"")"`);
    for (const lead of ['+', '-', '@', '\t', '\r']) assert.ok(csvCell(`${lead}1`).replace(/^"/, '').startsWith(`'${lead}`), JSON.stringify(lead));
    assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
  });

  test('the format comes from ?format=, else from the most preferred Accept type', () => {
    assert.equal(exportFormat('csv', 'application/json'), 'csv');
    assert.equal(exportFormat(undefined, 'application/x-ndjson'), 'ndjson');
    assert.equal(exportFormat(undefined, 'text/csv'), 'csv');
    assert.equal(exportFormat(undefined, 'application/json, text/csv;q=0.5'), undefined);
    assert.equal(exportFormat(undefined, 'text/csv;q=0.9, application/json;q=0.1'), 'csv');
    assert.equal(exportFormat(undefined, '*/*'), undefined);
    assert.equal(exportFormat('json', 'text/csv'), undefined);
  });
});

describe('audit trail over HTTP', () => {
  let t: Awaited<ReturnType<typeof createAuditTestDatabase>>;
  let tt: Awaited<ReturnType<typeof createTestTransport>>;
  let shared: Awaited<ReturnType<typeof createTestShared>>;
  let audit: Started;
  let tokens: Awaited<ReturnType<typeof createTestTokens>>;
  const A = randomUUID();
  const B = randomUUID();
  const alice = randomUUID();
  const bob = randomUUID();
  const adminA = randomUUID();
  const bUser = randomUUID();
  const tok = {} as Record<'alice' | 'bob' | 'adminA' | 'adminB', string>;
  const aEvents: string[] = [];
  const bEvents: string[] = [];

  async function get(path: string, token?: string, headers: Record<string, string> = {}) {
    return audit.app.inject({ method: 'GET', url: path, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  }

  before(async () => {
    t = await createAuditTestDatabase();
    tt = await createTestTransport();
    shared = await createTestShared(tt.transport);
    tokens = await createTestTokens();
    audit = await startAudit(t.db, shared, { jwks: tokens.jwks });
    tok.adminA = await tokens.mint({ sub: adminA, tid: A, roles: ['admin'] });
    tok.alice = await tokens.mint({ sub: alice, tid: A });
    tok.bob = await tokens.mint({ sub: bob, tid: A, roles: ['organizer'] });
    tok.adminB = await tokens.mint({ sub: randomUUID(), tid: B, roles: ['admin'] });
    const where = { ip: '192.0.2.10', userAgent: 'Mozilla/5.0 (test)', requestId: 'req-x' };
    const seed = [
      testEvent(A, 'user.events.created', { id: alice, email: 'alice@a.test', action: 'created' }, { subject: alice }),
      testEvent(A, 'auth.events.login_succeeded', { userId: alice, sessionId: randomUUID(), ...where }, { subject: alice }),
      testEvent(A, 'auth.events.login_failed', { userId: alice, reason: 'invalid_credentials', ...where }, { subject: alice }),
      testEvent(A, 'auth.events.password_changed', { userId: alice, ...where }, { subject: alice }),
      testEvent(A, 'auth.events.mfa_enabled', { userId: alice }, { subject: alice }),
      testEvent(A, 'profile.events.updated', { userId: alice, displayName: 'Alice' }, { subject: alice }),
      testEvent(A, 'attendance.events.checked_in', { userId: alice, eventId: randomUUID(), actorId: bob }, { subject: alice }),
      testEvent(A, 'user.events.updated', { actorId: adminA, id: alice, action: 'updated', roles: ['user'] }, { subject: alice }),
      testEvent(A, 'auth.events.login_succeeded', { userId: bob, ...where }, { subject: bob }),
      testEvent(A, 'auth.events.login_failed', { userId: bob, ip: '=cmd|"/c calc"!A1', userAgent: '@SUM(1+1)' }, { subject: bob }),
      testEvent(A, 'social.events.user.followed', { actorId: bob, targetId: alice }, { subject: alice }),
    ];
    for (let i = 0; i < 12; i++) seed.push(testEvent(A, 'user.events.created', { id: randomUUID(), n: i }, { time: new Date(Date.UTC(2024, 0, 1 + i)) }));
    for (const e of seed) {
      assert.equal(await audit.deps.ingest.handle(e), 'ingested');
      aEvents.push(e.id);
    }
    for (const e of [
      testEvent(B, 'auth.events.login_succeeded', { userId: bUser }, { subject: bUser }),
      testEvent(B, 'user.events.created', { id: alice }, { subject: alice }),
    ]) {
      await audit.deps.ingest.handle(e);
      bEvents.push(e.id);
    }
  });

  after(async () => {
    await audit.close();
    await shared.close();
    await tt.cleanup();
    await t.drop();
  });

  test('without a valid token: 401 invalid_token with WWW-Authenticate', async () => {
    for (const path of ['/api/v1/audit/events', '/api/v1/audit/me', '/api/v1/audit/verify']) {
      for (const res of [await get(path), await get(path, 'not.a.jwt'), await get(path, undefined, { authorization: 'Basic x' })]) {
        assert.equal(res.statusCode, 401, path);
        assert.equal(res.json().code, 'invalid_token');
        assert.equal(res.headers['www-authenticate'], 'Bearer');
      }
    }
  });

  test('events and verify need the admin role: 403 forbidden for a user and an organizer', async () => {
    for (const who of ['alice', 'bob'] as const) {
      for (const path of ['/api/v1/audit/events', '/api/v1/audit/verify']) {
        const res = await get(path, tok[who]);
        assert.equal(res.statusCode, 403);
        assert.equal(res.json().code, 'forbidden');
      }
    }
  });

  test('a token of another tenant than the gateway resolved: 401', async () => {
    const res = await get('/api/v1/audit/events', tok.adminB, { [TENANT_HEADER]: A });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'invalid_token');
  });

  test("isolation: tenant A's admin never sees tenant B's entries, and B's never A's", async () => {
    const a = await get('/api/v1/audit/events?limit=200', tok.adminA);
    assert.equal(a.statusCode, 200);
    const aItems = a.json().items as AuditEntry[];
    assert.equal(aItems.length, aEvents.length);
    assert.ok(aItems.every((e) => e.tenantId === A));
    assert.ok(aItems.every((e) => !bEvents.includes(e.eventId)));
    const b = (await get('/api/v1/audit/events?limit=200', tok.adminB)).json().items as AuditEntry[];
    assert.deepEqual(b.map((e) => e.eventId).sort(), [...bEvents].sort());
    // filtering by an id that exists in B finds nothing from A's side
    const cross = (await get(`/api/v1/audit/events?actorId=${bUser}`, tok.adminA)).json();
    assert.deepEqual(cross.items, []);
    // B's verify covers only B's chain
    assert.deepEqual((await get('/api/v1/audit/verify', tok.adminB)).json(), { ok: true, checked: 2 });
  });

  test("/audit/me shows only the caller's own activity", async () => {
    const res = await get('/api/v1/audit/me?limit=200', tok.alice);
    assert.equal(res.statusCode, 200);
    const items = res.json().items as AuditEntry[];
    assert.ok(items.length >= 8);
    for (const e of items) {
      assert.equal(e.tenantId, A);
      assert.ok(e.actorId === alice || e.subjectId === alice, `${e.type} is not alice's`);
      assert.equal(e.type.startsWith('social.events.'), e.actorId === alice && e.type.startsWith('social.events.'), 'no one else\'s social entries');
    }
    const types = new Set(items.map((e) => e.type));
    for (const ty of ['auth.events.login_succeeded', 'auth.events.login_failed', 'auth.events.password_changed', 'auth.events.mfa_enabled', 'profile.events.updated', 'attendance.events.checked_in', 'user.events.updated']) {
      assert.ok(types.has(ty), ty);
    }
    // bob's logins are not in alice's activity, and bob's social follow of alice is bob's, not alice's
    assert.ok(!items.some((e) => e.type === 'social.events.user.followed'));
    const bobs = (await get('/api/v1/audit/me?limit=200', tok.bob)).json().items as AuditEntry[];
    assert.ok(bobs.every((e) => e.actorId === bob || e.subjectId === bob));
    assert.ok(bobs.some((e) => e.type === 'social.events.user.followed'));
    assert.ok(!bobs.some((e) => e.type === 'auth.events.password_changed'));
  });

  test('entries record who, what, when and where', async () => {
    const items = (await get('/api/v1/audit/events?type=auth.events.login_failed', tok.adminA)).json().items as AuditEntry[];
    const e = items.find((x) => x.actorId === alice)!;
    assert.equal(e.subjectId, alice);
    assert.equal(e.ip, '192.0.2.10');
    assert.equal(e.userAgent, 'Mozilla/5.0 (test)');
    assert.equal(e.requestId, 'req-x');
    assert.equal(e.data.reason, 'invalid_credentials');
    assert.match(e.occurredAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(e.hash, /^[0-9a-f]{64}$/);
  });

  test('filters: exact type, type prefix, actor, subject, time range', async () => {
    const q = async (qs: string) => (await get(`/api/v1/audit/events?limit=200&${qs}`, tok.adminA)).json().items as AuditEntry[];
    assert.ok((await q('type=auth.events.login_failed')).every((e) => e.type === 'auth.events.login_failed'));
    assert.equal((await q('type=auth.events.login_failed')).length, 2);
    const auth = await q('type=auth.events.*');
    assert.equal(auth.length, 6);
    assert.ok(auth.every((e) => e.type.startsWith('auth.events.')));
    assert.ok((await q(`actorId=${bob}`)).every((e) => e.actorId === bob));
    assert.equal((await q(`actorId=${adminA}`)).length, 1);
    assert.equal((await q(`subjectId=${alice}`)).length, 9);
    const jan = await q('from=2024-01-03T00:00:00Z&to=2024-01-06T00:00:00Z');
    assert.deepEqual(jan.map((e) => e.occurredAt).sort(), ['2024-01-03', '2024-01-04', '2024-01-05'].map((d) => `${d}T00:00:00.000Z`));
    const res = await get('/api/v1/audit/events?from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z', tok.adminA);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'validation_failed');
  });

  test('bad query input is a 400 problem, never a 500', async () => {
    for (const qs of ['limit=0', 'limit=1000', 'limit=abc', 'type=bad%20type', 'from=yesterday', 'actorId=', `cursor=${'x'.repeat(300)}`]) {
      const res = await get(`/api/v1/audit/events?${qs}`, tok.adminA);
      assert.equal(res.statusCode, 400, qs);
      assert.equal(res.json().code, 'validation_failed', qs);
      assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
    }
    for (const cursor of ['nope', Buffer.from('v1:-3').toString('base64url'), Buffer.from('v2:5').toString('base64url')]) {
      const res = await get(`/api/v1/audit/events?cursor=${cursor}`, tok.adminA);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'invalid_cursor');
    }
  });

  test('cursor pages: newest first, stable, no entry skipped or repeated even while entries arrive', async () => {
    const seen: AuditEntry[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/api/v1/audit/events?limit=4${cursor ? `&cursor=${cursor}` : ''}`, tok.adminA);
      assert.equal(res.statusCode, 200);
      const body = res.json() as { items: AuditEntry[]; nextCursor: string | null };
      seen.push(...body.items);
      cursor = body.nextCursor;
      if (pages === 0) await audit.deps.ingest.handle(testEvent(A, 'user.events.created', { late: true }));
      pages += 1;
    } while (cursor);
    const seqs = seen.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => y - x));
    assert.equal(new Set(seqs).size, seqs.length);
    assert.equal(seqs.length, aEvents.length, 'the page walk covers the entries that existed when it began');
    assert.equal(seqs[seqs.length - 1], 1);
    aEvents.push('late');
  });

  test('NDJSON export: every match, oldest first, by ?format= or Accept', async () => {
    for (const [qs, headers] of [['format=ndjson', {}], ['', { accept: 'application/x-ndjson' }]] as const) {
      const res = await get(`/api/v1/audit/events?${qs}`, tok.adminA, headers);
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /^application\/x-ndjson/);
      assert.match(res.headers['content-disposition'] as string, /^attachment; filename="audit-.*\.ndjson"$/);
      const lines = res.body.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEntry);
      assert.equal(lines.length, aEvents.length);
      assert.deepEqual(lines.map((e) => e.seq), Array.from({ length: lines.length }, (_, i) => i + 1));
      assert.ok(lines.every((e) => e.tenantId === A));
    }
    const filtered = await get('/api/v1/audit/me?format=ndjson', tok.alice);
    assert.ok(filtered.body.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEntry).every((e) => e.actorId === alice || e.subjectId === alice));
  });

  test('CSV export: header, one row per entry, cells escaped and formula-safe', async () => {
    const res = await get('/api/v1/audit/events?type=auth.events.login_failed', tok.adminA, { accept: 'text/csv' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/csv/);
    const lines = res.body.split('\r\n').filter(Boolean);
    assert.equal(lines[0], 'id,seq,tenantId,type,actorId,subjectId,ip,userAgent,requestId,eventId,occurredAt,recordedAt,data,prevHash,hash');
    assert.equal(lines.length, 3);
    assert.ok(res.body.includes(`"'=cmd|""/c calc""!A1"`), 'a formula in the ip column is neutralised');
    assert.ok(res.body.includes(`,'@SUM(1+1),`), 'a formula in the user agent column is neutralised');
    assert.ok(!/(^|,)[=@+]/m.test(res.body.replace(/"[^"]*"/g, '')), 'no cell starts a formula');
  });

  test('verify re-computes the chain; a row altered in the database is reported by its seq', async () => {
    const ok = await get('/api/v1/audit/verify', tok.adminA);
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { ok: true, checked: aEvents.length });
    await t.db.admin.transaction().execute(async (trx) => {
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries disable trigger entries_append_only`).execute(trx);
      await sql`update entries set actor_id = ${bob} where tenant_id = ${A} and seq = 4`.execute(trx);
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries enable trigger entries_append_only`).execute(trx);
    });
    assert.deepEqual((await get('/api/v1/audit/verify', tok.adminA)).json(), { ok: false, checked: 4, brokenAt: 4 });
    // the other tenant's chain is untouched
    assert.deepEqual((await get('/api/v1/audit/verify', tok.adminB)).json(), { ok: true, checked: 2 });
  });

  test('no API changes or deletes an entry', async () => {
    const id = ((await get('/api/v1/audit/events?limit=1', tok.adminA)).json().items as AuditEntry[])[0]!.id;
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      for (const url of [`/api/v1/audit/events/${id}`, '/api/v1/audit/events']) {
        const res = await audit.app.inject({ method, url, headers: { authorization: `Bearer ${tok.adminA}` }, ...(method === 'DELETE' ? {} : { payload: {} }) });
        assert.equal(res.statusCode, 404, `${method} ${url}`);
      }
    }
  });

  test('health, readiness and metrics', async () => {
    assert.equal((await get('/healthz')).statusCode, 200);
    const ready = await get('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json().checks, { database: 'ok', transport: 'ok', consumer: 'ok' });
    assert.equal((await get('/metrics')).statusCode, 404);
    const metrics = await shared.registry.metrics();
    const ingested = /^gatehouse_audit_ingested_total (\d+)/m.exec(metrics);
    assert.ok(ingested && Number(ingested[1]) >= aEvents.length);
    assert.match(metrics, /^gatehouse_audit_dead_letters_total \d+/m);
    assert.match(metrics, /^gatehouse_audit_lag_seconds [\d.e+-]+/m);
  });

  test('the OpenAPI document describes every route with tags, summary and schemas', async () => {
    const doc = (await get('/openapi.json')).json();
    for (const [path, method] of [['/api/v1/audit/events', 'get'], ['/api/v1/audit/me', 'get'], ['/api/v1/audit/verify', 'get'], ['/api/v1/social-logs', 'post'], ['/api/v1/social-logs', 'get']] as const) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method} ${path}`);
      assert.ok(op.tags?.length && op.summary, `${method} ${path} has tags and summary`);
    }
  });
});
