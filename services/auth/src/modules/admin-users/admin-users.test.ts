import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { GOOD_PASSWORD, startAuth, uniqueEmail, type Harness } from '../../testing';

let h: Harness;
let admin: Awaited<ReturnType<Harness['admin']>>;
let superadmin: Awaited<ReturnType<Harness['admin']>>;

before(async () => {
  h = await startAuth();
  admin = await h.admin(['admin']);
  superadmin = await h.admin(['superadmin']);
});
after(async () => {
  await h.close();
});

const U = '/api/v1/admin/users';

/** Waits up to 1 s for the verifier to reject the token. */
async function rejectedWithin1s(token: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 <= 1000) {
    if (await h.deps.verifier.verify(token).then(() => false, () => true)) return;
    await sleep(20);
  }
  assert.fail('access token still accepted after 1 s');
}

describe('admin users: access', () => {
  test('401 without a token, 403 forbidden for a plain user', async () => {
    assert.equal((await h.request('GET', U)).statusCode, 401);
    const u = await h.register();
    const res = await h.request('GET', U, { token: u.accessToken });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, 'forbidden');
  });

  test("another tenant's users are not found (404), not listed", async () => {
    const t = await h.createTenant();
    const foreign = await h.register({ tenant: t.id });
    assert.equal((await h.request('GET', `${U}/${foreign.userId}`, { token: admin.accessToken })).statusCode, 404);
    assert.equal((await h.request('PATCH', `${U}/${foreign.userId}`, { token: admin.accessToken, body: { disabled: true } })).statusCode, 404);
    assert.equal((await h.request('DELETE', `${U}/${foreign.userId}`, { token: admin.accessToken })).statusCode, 404);
    const list = (await h.request('GET', U, { token: admin.accessToken, query: { query: foreign.email } })).json();
    assert.deepEqual(list.items, []);
    // and the admin's token does not work on the other tenant at all
    assert.equal((await h.request('GET', U, { token: admin.accessToken, tenant: t.id })).statusCode, 401);
  });
});

describe('admin users: read', () => {
  test('search by email or username, case-insensitive, with cursor pagination', async () => {
    const tag = `srch${Date.now()}`;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await h.register({ email: `${tag}-${i}@example.test`, username: i === 4 ? `${tag}_name` : undefined })).userId);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string> = { query: tag.toUpperCase(), limit: '2' };
      if (cursor) query.cursor = cursor;
      const res = await h.request('GET', U, { token: admin.accessToken, query });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.ok(body.items.length <= 2);
      seen.push(...body.items.map((u: { id: string }) => u.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual([...seen].sort(), [...made].sort());
    assert.equal(pages, 3);
    const byName = (await h.request('GET', U, { token: admin.accessToken, query: { query: `${tag}_NAME` } })).json();
    assert.equal(byName.items.length, 1);
    assert.equal(byName.items[0].disabled, false);
    const wildcard = (await h.request('GET', U, { token: admin.accessToken, query: { query: '%' } })).json();
    assert.equal(wildcard.items.length, 0, 'LIKE wildcards are literal');
    const bad = await h.request('GET', U, { token: admin.accessToken, query: { cursor: 'garbage' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');
    assert.equal((await h.request('GET', U, { token: admin.accessToken, query: { limit: '0' } })).statusCode, 400);
  });

  test('match: prefix at the start of the email or username only, contains (the default) anywhere; the OpenAPI document says so', async () => {
    const tag = `mtch${Date.now()}`;
    const u = await h.register({ email: `${tag}-a@example.test`, username: `${tag}_user` });
    const ids = async (query: Record<string, string>) => {
      const res = await h.request('GET', U, { token: admin.accessToken, query });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().items.map((x: { id: string }) => x.id);
    };
    const middle = tag.slice(2);
    assert.deepEqual(await ids({ query: tag.toUpperCase(), match: 'prefix' }), [u.userId], 'the start of the email and username');
    assert.deepEqual(await ids({ query: `${tag}_U`, match: 'prefix' }), [u.userId], 'the start of the username');
    assert.deepEqual(await ids({ query: middle, match: 'prefix' }), [], 'not the middle');
    assert.deepEqual(await ids({ query: middle, match: 'contains' }), [u.userId]);
    assert.deepEqual(await ids({ query: middle }), [u.userId], 'contains when match is absent');
    const bad = await h.request('GET', U, { token: admin.accessToken, query: { query: tag, match: 'suffix' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');

    const doc = (await h.request('GET', '/openapi.json', { tenant: null })).json();
    const params = doc.paths['/api/v1/admin/users'].get.parameters as Array<{ name: string; in: string; schema: { enum?: string[]; anyOf?: Array<{ const?: string; enum?: string[] }>; default?: string }; description?: string }>;
    const match = params.find((p) => p.name === 'match' && p.in === 'query')!;
    const values = match.schema.enum ?? match.schema.anyOf!.flatMap((s) => s.enum ?? [s.const]);
    assert.deepEqual([...values].sort(), ['contains', 'prefix']);
    assert.equal(match.schema.default, 'contains');
    assert.match(match.description!, /`prefix`.*index/);
    assert.match(match.description!, /`contains`.*no index/);
  });

  test('GET one: 200, 404 not_found, 400 for a malformed id', async () => {
    const u = await h.register();
    const res = await h.request('GET', `${U}/${u.userId}`, { token: admin.accessToken });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().email, u.email);
    const missing = await h.request('GET', `${U}/${crypto.randomUUID()}`, { token: admin.accessToken });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'not_found');
    assert.equal((await h.request('GET', `${U}/nope`, { token: admin.accessToken })).statusCode, 400);
  });
});

describe('admin users: change', () => {
  test('disable: sessions revoked at once (access token fails within 1 s), login 403, user.events.updated; enable again', async () => {
    const u = await h.register();
    const res = await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { disabled: true } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().disabled, true);
    await rejectedWithin1s(u.accessToken);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', '/api/v1/auth/login', { body: { email: u.email, password: u.password } })).json().code, 'account_disabled');
    assert.ok((await h.outbox()).some((e) => e.subject === 'user.events.updated' && e.event.data.id === u.userId));
    const enable = await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { disabled: false } });
    assert.equal(enable.json().disabled, false);
    await sleep(1100); // tokens issued in the second of the user cut are covered by it
    const login = await h.request('POST', '/api/v1/auth/login', { body: { email: u.email, password: u.password } });
    assert.equal(login.statusCode, 200);
    assert.equal((await h.request('GET', '/api/v1/auth/me', { token: login.json().accessToken })).statusCode, 200);
  });

  test('roles: an admin grants organizer/admin; the next refresh carries them; superadmin only by a superadmin', async () => {
    const u = await h.register();
    const res = await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { roles: ['organizer'] } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().roles, ['user', 'organizer']);
    assert.deepEqual(decodeJwt(u.accessToken).roles, ['user'], 'the current access token is unchanged');
    const refreshed = (await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })).json();
    assert.deepEqual(decodeJwt(refreshed.accessToken).roles, ['user', 'organizer'], 'the refresh re-reads roles');

    const escalate = await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { roles: ['superadmin'] } });
    assert.equal(escalate.statusCode, 403);
    assert.equal(escalate.json().code, 'forbidden');
    const bySuper = await h.request('PATCH', `${U}/${u.userId}`, { token: superadmin.accessToken, body: { roles: ['superadmin'] } });
    assert.equal(bySuper.statusCode, 200);
    assert.deepEqual(bySuper.json().roles, ['user', 'superadmin']);
    const touchSuper = await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { disabled: true } });
    assert.equal(touchSuper.statusCode, 403, 'an admin cannot disable a superadmin');
    const unknownRole = await h.request('PATCH', `${U}/${u.userId}`, { token: superadmin.accessToken, body: { roles: ['root'] } });
    assert.equal(unknownRole.statusCode, 400);
  });

  test('self lockout: an admin cannot drop its own admin role, disable or delete itself (409 self_lockout)', async () => {
    const me = admin.user.id;
    for (const [method, body] of [
      ['PATCH', { roles: ['user'] }],
      ['PATCH', { disabled: true }],
      ['DELETE', undefined],
    ] as const) {
      const res = await h.request(method, `${U}/${me}`, { token: admin.accessToken, body });
      assert.equal(res.statusCode, 409, `${method} ${JSON.stringify(body)}`);
      assert.equal(res.json().code, 'self_lockout');
    }
    const keep = await h.request('PATCH', `${U}/${me}`, { token: admin.accessToken, body: { roles: ['admin', 'organizer'] } });
    assert.equal(keep.statusCode, 200);
    // a role change cuts the user's access tokens, the admin's own included: it signs in again
    await rejectedWithin1s(admin.accessToken);
    const again = await h.request('POST', '/api/v1/auth/login', { body: { email: admin.email, password: GOOD_PASSWORD } });
    admin = { ...admin, accessToken: again.json().accessToken as string };
  });

  test('emailVerified can be set and cleared', async () => {
    const u = await h.register();
    assert.equal((await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { emailVerified: true } })).json().emailVerified, true);
    assert.equal((await h.request('PATCH', `${U}/${u.userId}`, { token: admin.accessToken, body: { emailVerified: false } })).json().emailVerified, false);
  });

  test('sessions/revoke ends every session of the user', async () => {
    const u = await h.register();
    const res = await h.request('POST', `${U}/${u.userId}/sessions/revoke`, { token: admin.accessToken });
    assert.equal(res.statusCode, 204);
    await rejectedWithin1s(u.accessToken);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', `${U}/${crypto.randomUUID()}/sessions/revoke`, { token: admin.accessToken })).statusCode, 404);
  });

  test('sessions of a user: listed, one revoked (the other lives); 404 for another user\'s session; a superadmin\'s only for a superadmin', async () => {
    const u = await h.register();
    const other = (await h.request('POST', '/api/v1/auth/login', { body: { email: u.email, password: u.password } })).json() as { accessToken: string; refreshToken: string };
    const [sid1, sid2] = [decodeJwt(u.accessToken).sid as string, decodeJwt(other.accessToken).sid as string];
    const list = await h.request('GET', `${U}/${u.userId}/sessions`, { token: admin.accessToken });
    assert.equal(list.statusCode, 200);
    const items = list.json().items as Array<{ id: string; current: boolean; ip: string | null }>;
    assert.deepEqual(items.map((s) => s.id).sort(), [sid1, sid2].sort());
    assert.ok(items.every((s) => !s.current), 'none is the admin\'s own');

    // a session of someone else under this user's id: not found, and nothing revoked
    const stranger = await h.register();
    const wrong = await h.request('DELETE', `${U}/${u.userId}/sessions/${decodeJwt(stranger.accessToken).sid as string}`, { token: admin.accessToken });
    assert.equal(wrong.statusCode, 404);
    assert.equal(wrong.json().code, 'not_found');
    assert.equal((await h.request('GET', '/api/v1/auth/me', { token: stranger.accessToken })).statusCode, 200);
    assert.equal((await h.request('DELETE', `${U}/${u.userId}/sessions/not-a-uuid`, { token: admin.accessToken })).statusCode, 400);

    const res = await h.request('DELETE', `${U}/${u.userId}/sessions/${sid1}`, { token: admin.accessToken });
    assert.equal(res.statusCode, 204);
    await rejectedWithin1s(u.accessToken);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: u.refreshToken } })).statusCode, 401);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: other.refreshToken } })).statusCode, 200, 'the other session lives');
    assert.equal((await h.request('DELETE', `${U}/${u.userId}/sessions/${sid1}`, { token: admin.accessToken })).statusCode, 404, 'already ended');
    assert.deepEqual((await h.request('GET', `${U}/${u.userId}/sessions`, { token: admin.accessToken })).json().items.map((s: { id: string }) => s.id), [sid2]);
    assert.equal((await h.request('GET', `${U}/${crypto.randomUUID()}/sessions`, { token: admin.accessToken })).statusCode, 404);
    assert.equal((await h.request('GET', `${U}/${superadmin.user.id}/sessions`, { token: admin.accessToken })).statusCode, 403);
    assert.equal((await h.request('GET', `${U}/${superadmin.user.id}/sessions`, { token: superadmin.accessToken })).statusCode, 200);
  });

  test('delete: sessions revoked, the user and its rows gone, user.events.deleted; 404 afterwards', async () => {
    const u = await h.register({ email: uniqueEmail('gone') });
    const res = await h.request('DELETE', `${U}/${u.userId}`, { token: admin.accessToken });
    assert.equal(res.statusCode, 204);
    await rejectedWithin1s(u.accessToken);
    const rows = await h.deps.db.admin.selectFrom('sessions').select('id').where('user_id', '=', u.userId).execute();
    assert.equal(rows.length, 0);
    assert.equal((await h.request('GET', `${U}/${u.userId}`, { token: admin.accessToken })).statusCode, 404);
    assert.equal((await h.request('DELETE', `${U}/${u.userId}`, { token: admin.accessToken })).statusCode, 404);
    const ev = (await h.outbox()).find((e) => e.subject === 'user.events.deleted' && e.event.data.id === u.userId);
    assert.ok(ev);
    assert.equal(ev.event.data.action, 'deleted');
    assert.equal(ev.event.data.email, u.email);
    // the address is free again
    assert.equal((await h.request('POST', '/api/v1/auth/register', { body: { email: u.email, password: u.password } })).statusCode, 201);
  });
});
