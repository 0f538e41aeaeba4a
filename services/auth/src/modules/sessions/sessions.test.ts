import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { createTokenVerifier, type TokenVerifier } from '@gatehouse/platform/auth';
import { createKvStore, type KvStore } from '@gatehouse/platform/kv';
import { createRevocationList, type RevocationList } from '@gatehouse/platform/revocation';
import { sentDuring, testLogger, testServers } from '@gatehouse/platform/testing';
import { startAuth, type Harness } from '../../testing';

let h: Harness;
/** A second process's view: its own KvStore connection and revocation list (as the gateway has). */
let otherKv: KvStore;
let otherList: RevocationList;
let otherVerifier: TokenVerifier;

before(async () => {
  h = await startAuth();
  // with Redis this is a separate connection and subscriber, like another process; in memory
  // mode the store is per process, so the second list shares the harness's store
  otherKv = testServers.redisUrl ? createKvStore({ url: testServers.redisUrl, logger: testLogger }) : h.shared.kv;
  otherList = createRevocationList({ kv: otherKv, logger: testLogger });
  await otherList.start();
  otherVerifier = createTokenVerifier({ keys: h.deps.keys.getKey, issuer: h.config.tokens.issuer, audience: h.config.tokens.audience, revocations: otherList });
});
after(async () => {
  await otherList.stop();
  if (otherKv !== h.shared.kv) await otherKv.close();
  await h.close();
});

const REFRESH = '/api/v1/auth/refresh';

/** Polls until both verifiers reject the token; returns how long that took (ms). */
async function revokedWithin(token: string, limitMs = 1000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const here = await h.deps.verifier.verify(token).then(() => false, () => true);
    const there = await otherVerifier.verify(token).then(() => false, () => true);
    if (here && there) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) assert.fail(`token still accepted after ${limitMs} ms (here revoked: ${here}, other process revoked: ${there})`);
    await sleep(20);
  }
}


describe('refresh', () => {
  test('a plain rotation is 4 database round trips: token+tenant, BEGIN with the tenant, one rotating statement, COMMIT', async () => {
    const r = await h.register();
    if (h.deps.db.kind !== 'postgres') return; // PGlite has no wire round trips to count
    const { result: res, sent } = await sentDuring(() => h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } }));
    assert.equal(res.statusCode, 200);
    assert.equal(sent.length, 4, sent.map((q) => q.text).join('\n'));
    // the token lookup and the rotation run as named prepared statements (platform prepared.ts,
    // db.pool.ts): parsed once per connection, not at every refresh
    const named = sent.filter((q) => q.name !== undefined);
    assert.equal(named.length, 2, sent.map((q) => `${q.name ?? '-'} ${q.text.slice(0, 60)}`).join('\n'));
    assert.match(named[0]!.text, /from "refresh_tokens" as "rt" inner join "tenants" as "t"/);
    assert.match(named[1]!.text, /^with "consumed" as/);
    for (const q of named) assert.match(q.name!, /^gh_[0-9a-f]{16}$/);
  });

  test('the password login\'s and GET /auth/me\'s hot statements run as named prepared statements', async () => {
    const r = await h.register();
    if (h.deps.db.kind !== 'postgres') return;
    const { result: res, sent } = await sentDuring(() => h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password } }));
    assert.equal(res.statusCode, 200);
    const list = sent.map((q) => `${q.name ?? '-'} ${q.text.slice(0, 70)}`).join('\n');
    const named = (re: RegExp) => sent.filter((q) => re.test(q.text)).map((q) => q.name !== undefined);
    // the tenant, the user lookup, last login, the session row, its refresh token, the outbox row, the roles
    assert.deepEqual(named(/^select .* from "tenants" where "id" = \$1$/), [true], list);
    assert.deepEqual(named(/^select .* from "users" where "email_key" = /), [true], list);
    assert.deepEqual(named(/^update "users" set "last_login_at"/), [true], list);
    assert.deepEqual(named(/^insert into "sessions"/), [true], list);
    assert.deepEqual(named(/^insert into "refresh_tokens"/), [true], list);
    assert.deepEqual(named(/^insert into "auth"."outbox"/), [true], list);
    assert.deepEqual(named(/^select "u"."roles", coalesce/), [true], list);
    // no named text has a `*` result list (prepared.ts refuses those)
    for (const q of sent) if (q.name !== undefined) assert.doesNotMatch(q.text, /select \*|"\.\*|returning \*/);
    // GET /auth/me: the user by id, named too
    const me = await sentDuring(() => h.request('GET', '/api/v1/auth/me', { token: r.accessToken }));
    assert.equal(me.result.statusCode, 200);
    assert.deepEqual(
      me.sent.filter((q) => /^select .* from "users" where "id" = \$1$/.test(q.text)).map((q) => q.name !== undefined),
      [true],
      me.sent.map((q) => `${q.name ?? '-'} ${q.text.slice(0, 70)}`).join('\n'),
    );
  });

  test('rotates: a new refresh token each time, the same session, a fresh access token', async () => {
    const r = await h.register();
    const res = await h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.notEqual(body.refreshToken, r.refreshToken);
    assert.equal(decodeJwt(body.accessToken).sid, decodeJwt(r.accessToken).sid);
    assert.notEqual(decodeJwt(body.accessToken).jti, decodeJwt(r.accessToken).jti);
    const again = await h.request('POST', REFRESH, { body: { refreshToken: body.refreshToken } });
    assert.equal(again.statusCode, 200);
  });

  test('a refresh token reused after rotation revokes the whole session (401 refresh_token_reused, event)', async () => {
    const r = await h.register();
    const rotated = (await h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } })).json();
    const reuse = await h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } });
    assert.equal(reuse.statusCode, 401);
    assert.equal(reuse.json().code, 'refresh_token_reused');
    const successor = await h.request('POST', REFRESH, { body: { refreshToken: rotated.refreshToken } });
    assert.equal(successor.statusCode, 401, 'the rotated token died with the session');
    await revokedWithin(rotated.accessToken);
    const events = (await h.outbox()).filter((e) => e.subject === 'auth.events.refresh_token_reused' && e.event.subject === r.userId);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event.data.sessionId, decodeJwt(r.accessToken).sid);
  });

  test('10 concurrent refreshes with one token: at most one 200, and the session is then revoked', async () => {
    const r = await h.register();
    const results = await Promise.all(Array.from({ length: 10 }, () => h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } })));
    const ok = results.filter((x) => x.statusCode === 200);
    assert.ok(ok.length <= 1, `${ok.length} refreshes succeeded`);
    for (const x of results.filter((y) => y.statusCode !== 200)) {
      assert.equal(x.statusCode, 401);
      assert.equal(x.json().code, 'refresh_token_reused');
    }
    for (const winner of ok) {
      const next = await h.request('POST', REFRESH, { body: { refreshToken: winner.json().refreshToken } });
      assert.equal(next.statusCode, 401, 'the losers counted as reuse and revoked the session');
    }
    const s = await h.deps.db.admin.selectFrom('sessions').select('revoked_at').where('id', '=', decodeJwt(r.accessToken).sid as string).executeTakeFirstOrThrow();
    assert.ok(s.revoked_at);
  });

  test('401 invalid_refresh_token: unknown, missing, other tenant, idle-expired, absolutely expired', async () => {
    const unknown = await h.request('POST', REFRESH, { body: { refreshToken: 'A'.repeat(43) } });
    assert.equal(unknown.json().code, 'invalid_refresh_token');
    const missing = await h.request('POST', REFRESH, { body: {} });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().code, 'invalid_refresh_token');
    const noBody = await h.request('POST', REFRESH);
    assert.equal(noBody.statusCode, 401);

    const t = await h.createTenant();
    const r = await h.register();
    const cross = await h.request('POST', REFRESH, { tenant: t.id, body: { refreshToken: r.refreshToken } });
    assert.equal(cross.statusCode, 401);
    assert.equal(cross.json().code, 'invalid_refresh_token');

    for (const column of ['idle_expires_at', 'expires_at']) {
      const s = await h.register();
      await h.deps.db.admin.updateTable('sessions').set({ [column]: new Date(Date.now() - 1000) }).where('id', '=', decodeJwt(s.accessToken).sid as string).execute();
      const res = await h.request('POST', REFRESH, { body: { refreshToken: s.refreshToken } });
      assert.equal(res.statusCode, 401, column);
      assert.equal(res.json().code, 'invalid_refresh_token');
    }
  });

  test('the idle expiry moves on refresh, never past the absolute expiry', async () => {
    const r = await h.register();
    const sid = decodeJwt(r.accessToken).sid as string;
    const abs = new Date(Date.now() + 60_000);
    await h.deps.db.admin.updateTable('sessions').set({ expires_at: abs }).where('id', '=', sid).execute();
    const res = await h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } });
    assert.equal(res.statusCode, 200);
    assert.ok(res.json().refreshExpiresIn <= 60);
    const s = await h.deps.db.admin.selectFrom('sessions').select(['idle_expires_at', 'expires_at']).where('id', '=', sid).executeTakeFirstOrThrow();
    assert.ok(new Date(s.idle_expires_at as Date).getTime() <= new Date(s.expires_at as Date).getTime());
  });
});

describe('logout and sessions', () => {
  test('logout revokes the session: its access token fails in this and another process within 1 s', async () => {
    const r = await h.register();
    await h.deps.verifier.verify(r.accessToken);
    await otherVerifier.verify(r.accessToken);
    const res = await h.request('POST', '/api/v1/auth/logout', { token: r.accessToken });
    assert.equal(res.statusCode, 204);
    const ms = await revokedWithin(r.accessToken);
    assert.ok(ms <= 1000);
    const refresh = await h.request('POST', REFRESH, { body: { refreshToken: r.refreshToken } });
    assert.equal(refresh.statusCode, 401);
    const again = await h.request('POST', '/api/v1/auth/logout', { token: r.accessToken });
    assert.equal(again.statusCode, 401);
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.logout' && e.event.subject === r.userId));
  });

  test('logout-all revokes every session of the user and only theirs', async () => {
    const r = await h.register();
    const second = (await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password } })).json();
    const bystander = await h.register();
    const res = await h.request('POST', '/api/v1/auth/logout-all', { token: r.accessToken });
    assert.equal(res.statusCode, 204);
    await revokedWithin(r.accessToken);
    await revokedWithin(second.accessToken);
    assert.equal((await h.request('POST', REFRESH, { body: { refreshToken: second.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('GET', '/api/v1/auth/me', { token: bystander.accessToken })).statusCode, 200);
  });

  test('GET /sessions lists the active ones with the current flag; DELETE revokes one (404 for others\')', async () => {
    const r = await h.register();
    const other = (await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password }, headers: { 'user-agent': 'Second Device/1.0' } })).json();
    const list = await h.request('GET', '/api/v1/auth/sessions', { token: r.accessToken });
    assert.equal(list.statusCode, 200);
    const items = list.json().items as Array<{ id: string; current: boolean; userAgent: string | null; ip: string | null }>;
    assert.equal(items.length, 2);
    const mine = decodeJwt(r.accessToken).sid;
    const otherSid = decodeJwt(other.accessToken).sid as string;
    assert.equal(items.find((i) => i.current)?.id, mine);
    assert.equal(items.find((i) => i.id === otherSid)?.userAgent, 'Second Device/1.0');
    assert.equal(items[0]!.ip, h.ip);

    const stranger = await h.register();
    const foreign = await h.request('DELETE', `/api/v1/auth/sessions/${otherSid}`, { token: stranger.accessToken });
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json().code, 'not_found');
    const unknown = await h.request('DELETE', `/api/v1/auth/sessions/${crypto.randomUUID()}`, { token: r.accessToken });
    assert.equal(unknown.statusCode, 404);
    const bad = await h.request('DELETE', '/api/v1/auth/sessions/not-a-uuid', { token: r.accessToken });
    assert.equal(bad.statusCode, 400);

    const del = await h.request('DELETE', `/api/v1/auth/sessions/${otherSid}`, { token: r.accessToken });
    assert.equal(del.statusCode, 204);
    await revokedWithin(other.accessToken);
    const after = (await h.request('GET', '/api/v1/auth/sessions', { token: r.accessToken })).json().items;
    assert.deepEqual(after.map((i: { id: string }) => i.id), [mine]);
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.session_revoked' && e.event.data.sessionId === otherSid));
  });

  test('a huge user agent is stored bounded, not rejected', async () => {
    const r = await h.register();
    const res = await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password }, headers: { 'user-agent': `UA ${'x'.repeat(10_000)}\u0001` } });
    assert.equal(res.statusCode, 200);
    const items = (await h.request('GET', '/api/v1/auth/sessions', { token: res.json().accessToken })).json().items;
    const ua = items.find((i: { current: boolean }) => i.current).userAgent as string;
    assert.ok(ua.length <= 512);
  });
});
