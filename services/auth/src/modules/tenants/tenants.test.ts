/**
 * The superadmin tenant API of the auth service (`/api/v1/admin/tenants`), the settings as
 * the auth flows apply them, disabling, and the functions the CLI uses. Black-box through
 * `app.inject` on the real service and database (PostgreSQL or PGlite).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { GOOD_PASSWORD, startAuth, uniqueEmail, type Harness } from '../../testing';
import { systemContext } from '../../context';
import { createTenant, listTenants, setTenantStatus } from './tenants.admin';

const T = '/api/v1/admin/tenants';
let h: Harness;
let superToken: string;

/** A slug no other test (or parallel test file) uses. */
const slug = (label = 't') => `${label}-${randomBytes(4).toString('hex')}`;

before(async () => {
  h = await startAuth();
  superToken = (await h.admin(['superadmin', 'admin'])).accessToken;
});
after(async () => {
  await h.close();
});

/** Creates a tenant through the API as the superadmin; fails unless 201. */
async function create(body: Record<string, unknown>) {
  const res = await h.request('POST', T, { token: superToken, body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

/** Outbox events of a type about one tenant. */
async function tenantEvents(type: string, tenantId: string) {
  return (await h.outbox()).filter((e) => e.subject === type && e.event.data.id === tenantId).map((e) => e.event);
}

describe('create', () => {
  test('201 {id, slug, name, status, settings, createdAt}; slug lower-cased; tenant.events.created in the outbox; resolvable', async () => {
    const s = slug('Acme');
    const t = await create({ slug: s.toUpperCase(), name: '  Acme Corp  ', settings: { passwordMinLength: 12 } });
    assert.deepEqual(Object.keys(t).sort(), ['createdAt', 'id', 'name', 'settings', 'slug', 'status']);
    assert.equal(t.slug, s.toLowerCase());
    assert.equal(t.name, 'Acme Corp');
    assert.equal(t.status, 'active');
    assert.deepEqual(t.settings, { passwordMinLength: 12 });
    const [event] = await tenantEvents('tenant.events.created', t.id);
    assert.ok(event, 'tenant.events.created');
    assert.equal(event.tenantid, t.id);
    assert.equal(event.data.slug, t.slug);
    assert.equal(event.data.action, 'created');
    assert.equal(typeof event.data.actorId, 'string');
    const resolved = await h.request('GET', '/internal/tenants/resolve', { tenant: null, query: { slug: t.slug } });
    assert.equal(resolved.json().id, t.id);
  });

  test('409 slug_taken for an existing slug (any case, "default" included), also when two creates race', async () => {
    const s = slug();
    await create({ slug: s, name: 'first' });
    for (const again of [s, s.toUpperCase(), 'default']) {
      const res = await h.request('POST', T, { token: superToken, body: { slug: again, name: 'again' } });
      assert.equal(res.statusCode, 409, again);
      assert.equal(res.json().code, 'slug_taken');
    }
    const raced = slug();
    const answers = await Promise.all([1, 2, 3].map(() => h.request('POST', T, { token: superToken, body: { slug: raced, name: 'race' } })));
    assert.deepEqual(answers.map((r) => r.statusCode).sort(), [201, 409, 409]);
  });

  test('400 invalid_slug for what is not a DNS label, reserved_slug for reserved names; nothing is created', async () => {
    for (const bad of ['-x', 'x-', 'under_score', 'dot.ted', 'a'.repeat(64), 'ümlaut', 'xn--punycode', 'sp ace']) {
      const res = await h.request('POST', T, { token: superToken, body: { slug: bad, name: 'bad' } });
      assert.equal(res.statusCode, 400, bad);
      assert.ok(['invalid_slug', 'validation_failed'].includes(res.json().code), `${bad}: ${res.body}`);
    }
    for (const reserved of ['www', 'api', 'admin', 'app', 'auth', 'mail', 'static', 'assets', 'cdn', 'docs', 'status', 'localhost', 'internal', 'gateway', 'WWW']) {
      const res = await h.request('POST', T, { token: superToken, body: { slug: reserved, name: 'r' } });
      assert.equal(res.statusCode, 400, reserved);
      assert.equal(res.json().code, 'reserved_slug', reserved);
    }
    const empty = await h.request('POST', T, { token: superToken, body: { slug: slug(), name: '   ' } });
    assert.equal(empty.json().code, 'validation_failed');
    const list = await h.request('GET', T, { token: superToken, query: { query: 'bad', limit: '200' } });
    assert.equal(list.json().items.filter((t: { name: string }) => t.name === 'bad' || t.name === 'r').length, 0);
  });

  test('400 validation_failed for bad settings, naming the field; unknown keys are refused, not dropped', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ passwordMinLenght: 12 }, 'passwordMinLenght'],
      [{ passwordMinLength: 4 }, 'passwordMinLength'],
      [{ accessTokenTtlSec: 7200 }, 'accessTokenTtlSec'],
      [{ refreshTokenTtlSec: 10 }, 'refreshTokenTtlSec'],
      [{ allowedOrigins: ['https://app.example.com/'] }, 'allowedOrigins.0'],
      [{ redirectUris: ['https://app.example.com/cb#x'] }, 'redirectUris.0'],
      [{ redirectUris: ['http://app.example.com/cb'] }, 'redirectUris.0'],
      [{ enabledProviders: ['myspace'] }, 'enabledProviders'],
    ];
    for (const [settings, field] of cases) {
      const res = await h.request('POST', T, { token: superToken, body: { slug: slug(), name: 'x', settings } });
      assert.equal(res.statusCode, 400, JSON.stringify(settings));
      assert.equal(res.json().code, 'validation_failed');
      assert.ok(
        res.json().errors.some((e: { path: string }) => e.path.includes(field)),
        `${JSON.stringify(settings)} → ${JSON.stringify(res.json().errors)}`,
      );
    }
  });

  test("with admin: the tenant's first admin is created with it and can sign in there (only there)", async () => {
    const email = uniqueEmail('first-admin');
    const t = await create({ slug: slug(), name: 'With admin', admin: { email, password: GOOD_PASSWORD } });
    assert.equal(t.admin.email, email);
    assert.equal(t.admin.tenantId, t.id);
    assert.deepEqual(t.admin.roles, ['user', 'admin']);
    const login = await h.request('POST', '/api/v1/auth/login', { tenant: t.id, body: { email, password: GOOD_PASSWORD } });
    assert.equal(login.statusCode, 200, login.body);
    assert.deepEqual(login.json().user.roles, ['user', 'admin']);
    const elsewhere = await h.request('POST', '/api/v1/auth/login', { body: { email, password: GOOD_PASSWORD } });
    assert.equal(elsewhere.json().code, 'invalid_credentials');
    assert.equal((await h.outbox()).filter((e) => e.subject === 'user.events.created' && e.event.tenantid === t.id).length, 1);
  });

  test("with admin and a weak password (by the new tenant's own minimum): 400 weak_password and no tenant", async () => {
    const s = slug();
    const res = await h.request('POST', T, {
      token: superToken,
      body: { slug: s, name: 'weak', settings: { passwordMinLength: 40 }, admin: { email: uniqueEmail(), password: GOOD_PASSWORD } },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'weak_password');
    assert.equal((await h.request('GET', '/internal/tenants/resolve', { tenant: null, query: { slug: s } })).statusCode, 404);
  });
});

describe('who may manage tenants', () => {
  test('401 without a token; 403 forbidden for user, organizer, admin, and a superadmin of another tenant', async () => {
    const none = await h.request('GET', T);
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'invalid_token');
    const other = await create({ slug: slug(), name: 'other' });
    const tokens = [
      (await h.register()).accessToken,
      (await h.admin(['organizer'])).accessToken,
      (await h.admin(['admin'])).accessToken,
      (await h.admin(['superadmin', 'admin'], other.id)).accessToken,
    ];
    for (const [i, token] of tokens.entries()) {
      const tenant = i === 3 ? other.id : DEFAULT_TENANT_ID;
      for (const [method, url, body] of [
        ['GET', T, undefined],
        ['POST', T, { slug: slug(), name: 'nope' }],
        ['GET', `${T}/${other.id}`, undefined],
        ['PATCH', `${T}/${other.id}`, { status: 'disabled' }],
      ] as const) {
        const res = await h.request(method, url, { token, tenant, body });
        assert.equal(res.statusCode, 403, `${i} ${method} ${url}: ${res.body}`);
        assert.equal(res.json().code, 'forbidden');
      }
    }
    assert.equal((await h.request('GET', `${T}/${other.id}`, { token: superToken })).json().status, 'active');
  });
});

describe('list and get', () => {
  test('cursor pages in creation order, filters by status and text; 400 for a forged cursor', async () => {
    const tag = randomBytes(3).toString('hex');
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await create({ slug: slug(`l${tag}`), name: `List ${tag} ${i}` }));
    await h.request('PATCH', `${T}/${made[1].id}`, { token: superToken, body: { status: 'disabled' } });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await h.request('GET', T, { token: superToken, query: { query: tag, limit: '2', ...(cursor ? { cursor } : {}) } });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(res.json().items.length <= 2);
      seen.push(...res.json().items.map((t: { id: string }) => t.id));
      cursor = res.json().nextCursor ?? undefined;
    } while (cursor);
    assert.deepEqual(seen, made.map((t) => t.id));
    const disabled = await h.request('GET', T, { token: superToken, query: { query: tag, status: 'disabled' } });
    assert.deepEqual(disabled.json().items.map((t: { id: string }) => t.id), [made[1].id]);
    const byName = await h.request('GET', T, { token: superToken, query: { query: `LIST ${tag} 3` } });
    assert.deepEqual(byName.json().items.map((t: { id: string }) => t.id), [made[3].id]);
    for (const cursor of ['garbage', Buffer.from('["x","y"]').toString('base64url')]) {
      const bad = await h.request('GET', T, { token: superToken, query: { cursor } });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().code, 'validation_failed');
    }
  });

  test('get by id: 200 (the default tenant too); 404 tenant_not_found for an unknown id; 400 for a non-uuid', async () => {
    const def = await h.request('GET', `${T}/${DEFAULT_TENANT_ID}`, { token: superToken });
    assert.equal(def.statusCode, 200);
    assert.equal(def.json().slug, 'default');
    const unknown = await h.request('GET', `${T}/${crypto.randomUUID()}`, { token: superToken });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'tenant_not_found');
    const bad = await h.request('GET', `${T}/not-a-uuid`, { token: superToken });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');
  });
});

describe('update', () => {
  test('name and settings merge (null resets); each change emits tenant.events.updated with what changed; a no-op emits nothing', async () => {
    const t = await create({ slug: slug(), name: 'Before', settings: { passwordMinLength: 12, mfaRequired: true } });
    const res = await h.request('PATCH', `${T}/${t.id}`, {
      token: superToken,
      body: { name: 'After', settings: { passwordMinLength: null, selfRegistration: false } },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().name, 'After');
    assert.deepEqual(res.json().settings, { mfaRequired: true, selfRegistration: false });
    const again = await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { name: 'After', settings: { mfaRequired: true } } });
    assert.equal(again.statusCode, 200);
    const events = await tenantEvents('tenant.events.updated', t.id);
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.data.changes, ['name', 'settings']);
    const bad = await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { settings: { accessTokenTtlSec: 5 } } });
    assert.equal(bad.statusCode, 400);
    const slugChange = await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { slug: 'renamed' } });
    assert.equal(slugChange.statusCode, 400, 'the slug is not changeable');
  });

  test('409 default_tenant: the default tenant cannot be disabled (renaming it is fine)', async () => {
    const res = await h.request('PATCH', `${T}/${DEFAULT_TENANT_ID}`, { token: superToken, body: { status: 'disabled' } });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'default_tenant');
    const def = await h.request('GET', `${T}/${DEFAULT_TENANT_ID}`, { token: superToken });
    assert.equal(def.json().status, 'active');
    assert.equal((await h.request('PATCH', `${T}/${crypto.randomUUID()}`, { token: superToken, body: { name: 'x' } })).json().code, 'tenant_not_found');
  });

  test('disable: access tokens fail at once, refresh and login answer 404 tenant_not_found, sessions are revoked; enable: login works again', async () => {
    const t = await create({ slug: slug(), name: 'Disable me' });
    const other = await create({ slug: slug(), name: 'Bystander' });
    const u = await h.register({ tenant: t.id });
    const bystander = await h.register({ tenant: other.id });
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: u.accessToken })).statusCode, 200);

    const off = await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { status: 'disabled' } });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal(off.json().status, 'disabled');

    const me = await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: u.accessToken });
    assert.equal(me.statusCode, 401);
    assert.equal(me.json().code, 'invalid_token');
    const refresh = await h.request('POST', '/api/v1/auth/refresh', { tenant: t.id, body: { refreshToken: u.refreshToken } });
    assert.equal(refresh.statusCode, 404);
    assert.equal(refresh.json().code, 'tenant_not_found');
    const login = await h.request('POST', '/api/v1/auth/login', { tenant: t.id, body: { email: u.email, password: u.password } });
    assert.equal(login.statusCode, 404);
    assert.equal(login.json().code, 'tenant_not_found');
    const register = await h.request('POST', '/api/v1/auth/register', { tenant: t.id, body: { email: uniqueEmail(), password: GOOD_PASSWORD } });
    assert.equal(register.json().code, 'tenant_not_found');
    const live = await h.deps.db.admin.selectFrom('sessions').select('id').where('tenant_id', '=', t.id).where('revoked_at', 'is', null).execute();
    assert.equal(live.length, 0, 'every session of the tenant is revoked');
    const [event] = await tenantEvents('tenant.events.updated', t.id);
    assert.ok(event, 'tenant.events.updated');
    assert.equal(event.data.status, 'disabled');
    assert.equal(event.data.sessionsRevoked, 1);

    // the other tenant is untouched
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: other.id, token: bystander.accessToken })).statusCode, 200);
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { tenant: other.id, body: { refreshToken: bystander.refreshToken } })).statusCode, 200);

    const on = await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { status: 'active' } });
    assert.equal(on.json().status, 'active');
    // tokens issued in the second of the disable are covered by its cut: sign in a second later
    await sleep(1100);
    const back = await h.request('POST', '/api/v1/auth/login', { tenant: t.id, body: { email: u.email, password: u.password } });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: back.json().accessToken })).statusCode, 200);
    // the sessions revoked by the disable stay revoked
    assert.equal((await h.request('POST', '/api/v1/auth/refresh', { tenant: t.id, body: { refreshToken: u.refreshToken } })).statusCode, 401);
  });

  test('regression: a session created by a login that raced the disable is revoked by the follow-up sweep', async () => {
    const t = await create({ slug: slug(), name: 'Race' });
    const u = await h.register({ tenant: t.id });
    await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { status: 'disabled' } });
    // what a login that passed its tenant check just before the disable would commit now
    const late = await h.deps.db.withTenant(t.id, (trx) => h.deps.sessions.issue(trx, { tenantId: t.id, userId: u.userId, amr: ['pwd'], ctx: systemContext() }));
    const revokedAt = async () =>
      (await h.deps.db.admin.selectFrom('sessions').select('revoked_at').where('id', '=', late.session.id).executeTakeFirstOrThrow()).revoked_at;
    assert.equal(await revokedAt(), null);
    await h.deps.background.idle();
    assert.notEqual(await revokedAt(), null);
  });
});

describe('settings applied by the auth flows', () => {
  test('selfRegistration false: 403 registration_disabled; admins still create accounts; true again reopens it', async () => {
    const t = await create({ slug: slug(), name: 'Closed', settings: { selfRegistration: false } });
    const res = await h.request('POST', '/api/v1/auth/register', { tenant: t.id, body: { email: uniqueEmail(), password: GOOD_PASSWORD } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, 'registration_disabled');
    const admin = await h.admin(['admin'], t.id);
    assert.equal(admin.user.tenantId, t.id);
    await h.request('PATCH', `${T}/${t.id}`, { token: superToken, body: { settings: { selfRegistration: null } } });
    assert.equal((await h.request('POST', '/api/v1/auth/register', { tenant: t.id, body: { email: uniqueEmail(), password: GOOD_PASSWORD } })).statusCode, 201);
  });

  test('accessTokenTtlSec, refreshTokenTtlSec and passwordMinLength reach the token response and the policy', async () => {
    const t = await create({ slug: slug(), name: 'Tuned', settings: { accessTokenTtlSec: 120, refreshTokenTtlSec: 600, passwordMinLength: 31 } });
    const short = await h.request('POST', '/api/v1/auth/register', { tenant: t.id, body: { email: uniqueEmail(), password: GOOD_PASSWORD } });
    assert.equal(short.json().code, 'weak_password', 'a 30-character password is under the minimum of 31');
    const u = await h.register({ tenant: t.id, password: `${GOOD_PASSWORD}!` });
    assert.equal(u.body.expiresIn, 120);
    assert.ok(u.body.refreshExpiresIn <= 600 && u.body.refreshExpiresIn >= 590, String(u.body.refreshExpiresIn));
    const refreshed = await h.request('POST', '/api/v1/auth/refresh', { tenant: t.id, body: { refreshToken: u.refreshToken } });
    assert.ok(refreshed.json().refreshExpiresIn <= 600 && refreshed.json().refreshExpiresIn >= 590);
    // the default tenant keeps the deployment's defaults
    const d = await h.register();
    assert.equal(d.body.expiresIn, h.config.tokens.accessTtlSec);
    assert.ok(d.body.refreshExpiresIn > 600);
  });
});

describe('functions the CLI uses', () => {
  test('createTenant, listTenants (all pages), setTenantStatus by slug: same rules, events and revocation as the API', async () => {
    const s = slug('cli');
    const t = await createTenant(h.deps, { slug: s, name: 'From the CLI' });
    assert.equal(t.slug, s);
    await assert.rejects(createTenant(h.deps, { slug: 'www', name: 'x' }), (err: { code?: string }) => err.code === 'reserved_slug');
    await assert.rejects(createTenant(h.deps, { slug: s, name: 'x' }), (err: { code?: string }) => err.code === 'slug_taken');
    const all = await listTenants(h.deps, { all: true });
    assert.ok(all.items.some((x) => x.id === t.id));
    assert.ok(all.items.some((x) => x.id === DEFAULT_TENANT_ID));
    const u = await h.register({ tenant: t.id });
    const disabled = await setTenantStatus(h.deps, { slug: s }, 'disabled');
    assert.equal(disabled.status, 'disabled');
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: u.accessToken })).statusCode, 401);
    const [event] = await tenantEvents('tenant.events.updated', t.id);
    assert.ok(event, 'tenant.events.updated');
    assert.equal(event.data.requestId, 'cli');
    assert.equal(event.data.actorId, undefined);
    await assert.rejects(setTenantStatus(h.deps, { slug: 'default' }, 'disabled'), (err: { code?: string }) => err.code === 'default_tenant');
    await assert.rejects(setTenantStatus(h.deps, { slug: 'no-such-tenant' }, 'disabled'), (err: { code?: string }) => err.code === 'tenant_not_found');
  });
});
