import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import type { CloudEvent } from '@gatehouse/platform/events';
import { sentDuring } from '@gatehouse/platform/testing';
import { bearer, eventually, startTestUsers, type TestUsers } from '../../testing';

let t: TestUsers;
const profileEvents: CloudEvent[] = [];
let stopListening: () => Promise<void>;

before(async () => {
  t = await startTestUsers();
  const sub = await t.transport.subscribe({
    durable: 'profiles-test-listener',
    subjects: ['profile.events.updated'],
    handler: async (e) => {
      profileEvents.push(e);
    },
  });
  stopListening = () => sub.stop();
});
after(async () => {
  await stopListening();
  await t.close();
});

describe('GET /api/v1/users/me', () => {
  test('the profile created from user.events.created', async () => {
    const u = await t.createUser({ username: 'ada', displayName: 'Ada Lovelace' });
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.id, u.id);
    assert.equal(body.username, 'ada');
    assert.equal(body.displayName, 'Ada Lovelace');
    assert.equal(body.avatarUrl, null);
    assert.equal(body.email, undefined, 'the public profile carries no email');
  });

  test('its lookup is compiled once and goes to PostgreSQL as a named prepared statement', async (ctx) => {
    if (t.deps.db.kind !== 'postgres') return ctx.skip('named statements are PostgreSQL\'s (PGlite runs in process)');
    const u = await t.createUser({ username: 'named' });
    // every statement of those moments: this file's tests run one at a time, and the lookup's text is the profile's alone
    const { result: res, sent } = await sentDuring(() => t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) }), { everyCaller: true });
    assert.equal(res.statusCode, 200);
    const lookups = sent.filter((q) => /from "profiles" where "id" = \$1$/.test(q.text));
    assert.equal(lookups.length, 1, sent.map((q) => q.text).join('\n'));
    assert.match(lookups[0]!.name ?? '', /^gh_[0-9a-f]{16}$/);
    assert.doesNotMatch(lookups[0]!.text, /select \*/, 'the columns are listed, so a migration adding one cannot break the cached plan');
  });

  test('a valid token whose user has not been replicated yet: 404 profile_not_found with Retry-After, not a 500', async () => {
    const token = await t.mint({ sub: randomUUID(), tid: randomUUID() });
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'profile_not_found');
    assert.equal(res.headers['retry-after'], '2');
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
  });

  test('no token, a garbage token, a token of another tenant than the gateway resolved: 401 invalid_token', async () => {
    const u = await t.createUser();
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/users/me' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'invalid_token');
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const garbage = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: 'Bearer abc.def.ghi' } });
    assert.equal(garbage.statusCode, 401);
    const wrongTenant = await t.app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: { ...bearer(u.token), [TENANT_HEADER]: randomUUID() },
    });
    assert.equal(wrongTenant.statusCode, 401);
  });
});

describe('PATCH /api/v1/users/me', () => {
  test('changes the given fields, trims them, clears with null, and publishes profile.events.updated with the field names', async () => {
    const u = await t.createUser();
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: bearer(u.token),
      payload: { displayName: '  Grace Hopper ', bio: 'Line one\nLine two', location: 'Arlington', website: 'https://example.org/grace' },
    });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.displayName, 'Grace Hopper');
    assert.equal(body.bio, 'Line one\nLine two');
    assert.equal(body.website, 'https://example.org/grace');

    const cleared = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(u.token), payload: { location: null } });
    assert.equal(cleared.statusCode, 200);
    assert.equal(cleared.json().location, null);
    assert.equal(cleared.json().displayName, 'Grace Hopper', 'absent fields stay');

    await eventually(() => {
      const mine = profileEvents.filter((e) => e.subject === u.id);
      assert.equal(mine.length, 2);
      assert.deepEqual((mine[0]!.data as { fields: string[] }).fields.sort(), ['bio', 'displayName', 'location', 'website']);
      assert.deepEqual((mine[1]!.data as { fields: string[] }).fields, ['location']);
      assert.equal(mine[0]!.tenantid, u.tenantId);
    });
  });

  test('an unchanged value publishes nothing', async () => {
    const u = await t.createUser();
    await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(u.token), payload: { bio: 'same' } });
    await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(u.token), payload: { bio: 'same' } });
    await eventually(() => assert.equal(profileEvents.filter((e) => e.subject === u.id).length, 1));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(profileEvents.filter((e) => e.subject === u.id).length, 1);
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['a display name over 100 characters', { displayName: 'x'.repeat(101) }, 'body.displayName'],
    ['an empty display name', { displayName: '' }, 'body.displayName'],
    ['a blank display name', { displayName: '   ' }, 'body.displayName'],
    ['a display name with a control character', { displayName: 'a\u0007b' }, 'body.displayName'],
    ['a bio over 1000 characters', { bio: 'b'.repeat(1001) }, 'body.bio'],
    ['a javascript: website', { website: 'javascript:alert(1)' }, 'body.website'],
    ['a website with credentials', { website: 'https://bank.example@evil.example/' }, 'body.website'],
    ['a website that is not a URL', { website: 'https://' }, 'body.website'],
    ['an object for a string', { location: { a: 1 } }, 'body.location'],
  ];
  for (const [name, payload, path] of invalid) {
    test(`400 validation_failed for ${name}`, async () => {
      const u = await t.createUser();
      const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(u.token), payload });
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json();
      assert.equal(body.code, 'validation_failed');
      assert.ok(body.errors.some((e: { path: string }) => e.path.startsWith(path)), JSON.stringify(body.errors));
    });
  }

  test('malformed JSON is a 400 problem, not a 500', async () => {
    const u = await t.createUser();
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: { ...bearer(u.token), 'content-type': 'application/json' },
      payload: '{"bio": ',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'malformed_json');
  });

  test('fields it does not own (username, email, id) are ignored', async () => {
    const u = await t.createUser({ username: 'keepme' });
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: bearer(u.token),
      payload: { username: 'hijack', id: randomUUID(), bio: 'ok' },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().username, 'keepme');
    assert.equal(res.json().id, u.id);
  });
});

describe('GET /api/v1/users/{id}', () => {
  test('a member of the same tenant sees the public profile', async () => {
    const a = await t.createUser({ username: 'alice' });
    const b = await t.createUser({ tenantId: a.tenantId, username: 'bob' });
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/users/${b.id}`, headers: bearer(a.token) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().username, 'bob');
  });

  test('tenant isolation: a user of another tenant is not found (404 user_not_found)', async () => {
    const a = await t.createUser();
    const other = await t.createUser();
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/users/${other.id}`, headers: bearer(a.token) });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'user_not_found');
  });

  test('a malformed id is a 400 validation_failed', async () => {
    const a = await t.createUser();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/not-a-uuid', headers: bearer(a.token) });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'validation_failed');
  });
});

describe('operations', () => {
  test('/healthz and /readyz (database, storage, events) answer; metrics are in the registry, not on this port', async () => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.deepEqual(Object.keys(ready.json().checks).sort(), ['database', 'events', 'storage']);
    assert.equal((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
    assert.match(await t.app.metricsRegistry.metrics(), /gatehouse_http_request_duration_seconds/);
  });

  test('the OpenAPI document lists the users, events and attendance routes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const paths = Object.keys(res.json().paths);
    for (const p of ['/api/v1/users/me', '/api/v1/users/me/avatar', '/api/v1/users/me/qr', '/api/v1/events', '/api/v1/events/{id}/check-ins']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    }
  });
});
