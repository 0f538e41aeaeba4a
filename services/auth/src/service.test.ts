import { readdirSync } from 'node:fs';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { loadConfig } from '@gatehouse/platform/config';
import { createDatabase } from '@gatehouse/platform/db';
import type { DB } from './db/schema';
import type { CloudEvent } from '@gatehouse/platform/events';
import { createTestDatabase, testLogger, testServers } from '@gatehouse/platform/testing';
import { authService } from './service';

const AUTH_MIGRATIONS_DIR = authService.migrationsDir!;
import { ensureSuperadmin } from './modules/users/users.service';
import { GOOD_PASSWORD, startAuth, uniqueEmail, type Harness } from './testing';

/** A durable consumer outlives its subscription on a real NATS server: remove the test's own. */
async function deleteNatsConsumer(durable: string): Promise<void> {
  if (!testServers.natsUrl) return;
  const nc = await connect({ servers: testServers.natsUrl });
  try {
    await (await jetstreamManager(nc)).consumers.delete('GATEHOUSE', durable);
  } finally {
    await nc.close();
  }
}

const ADMIN_EMAIL = uniqueEmail('root');
const ADMIN_PASSWORD = 'the very first superadmin passphrase';

let h: Harness;
before(async () => {
  h = await startAuth({ GATEHOUSE_ADMIN_EMAIL: ADMIN_EMAIL, GATEHOUSE_ADMIN_PASSWORD: ADMIN_PASSWORD, BODY_LIMIT_BYTES: String(64 * 1024) });
});
after(async () => {
  await h.close();
});

describe('startup', () => {
  test('the superadmin from the configuration exists, signs in, and ensuring it again is idempotent', async () => {
    const login = await h.request('POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    assert.equal(login.statusCode, 200);
    assert.ok(login.json().user.roles.includes('superadmin'));
    await ensureSuperadmin(h.deps, { email: ADMIN_EMAIL, password: 'ignored for an existing account', tenantId: DEFAULT_TENANT_ID });
    const rows = await h.deps.db.admin.selectFrom('users').select('roles').where('email', '=', ADMIN_EMAIL).execute();
    assert.equal(rows.length, 1);
    assert.equal((await h.request('POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).statusCode, 200, 'password untouched');
    const plain = await h.register();
    await ensureSuperadmin(h.deps, { email: plain.email, password: GOOD_PASSWORD, tenantId: DEFAULT_TENANT_ID });
    const promoted = await h.deps.db.admin.selectFrom('users').select('roles').where('id', '=', plain.userId).executeTakeFirstOrThrow();
    assert.ok((promoted.roles as string[]).includes('superadmin'));
  });

  test('readiness checks the database, the limit store, the event transport and the webhook consumer', async () => {
    const res = await h.request('GET', '/readyz', { tenant: null });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().checks, { database: 'ok', kv: 'ok', events: 'ok', consumer: 'ok' });
  });

  test('with PostgreSQL and no GATEHOUSE_SECRET the service refuses to start, saying why', async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DATA_DIR: '/tmp/gatehouse-never-written' });
    await assert.rejects(authService.create(config, h.shared), /GATEHOUSE_SECRET/);
  });

  test('two instances migrating one empty PostgreSQL database at once both come up', { skip: !testServers.databaseUrl && 'needs TEST_DATABASE_URL (PGlite has one connection)' }, async () => {
    const fresh = await createTestDatabase();
    try {
      const dbs = await Promise.all([0, 1].map(() => createDatabase<DB>({ url: fresh.url, schema: 'auth', logger: testLogger })));
      try {
        const applied = await Promise.all(dbs.map((db) => db.migrate(AUTH_MIGRATIONS_DIR)));
        // each migration applied exactly once across the two instances
        const files = readdirSync(AUTH_MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'));
        assert.deepEqual(applied.flat().sort(), ['0000_platform.sql', ...files].sort());
        for (const db of dbs) {
          const t = await db.admin.selectFrom('tenants').select('slug').where('id', '=', DEFAULT_TENANT_ID).executeTakeFirstOrThrow();
          assert.equal(t.slug, 'default');
        }
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    } finally {
      await fresh.drop();
    }
  });
});

describe('events', () => {
  test('registration writes user.events.created in its transaction and the relay publishes it', async () => {
    const received: CloudEvent[] = [];
    const durable = `auth_test_${crypto.randomUUID().replaceAll('-', '')}`;
    const sub = await h.shared.transport.subscribe({
      durable,
      subjects: ['user.events.created'],
      // only this test's event matters; a consumer left by an aborted run expires by itself
      fromNow: true,
      inactiveMs: 60_000,
      handler: async (e) => {
        received.push(e);
      },
    });
    try {
      const email = uniqueEmail('evt');
      const r = await h.register({ email });
      const row = (await h.outbox()).find((e) => e.subject === 'user.events.created' && e.event.data.id === r.userId);
      assert.ok(row, 'in the outbox');
      assert.equal(row.event.tenantid, DEFAULT_TENANT_ID);
      assert.equal(row.event.subject, r.userId);
      assert.deepEqual(row.event.data, { id: r.userId, email, username: null, displayName: null, roles: ['user'], action: 'created' });
      const t0 = Date.now();
      while (!received.some((e) => e.id === row.event.id) && Date.now() - t0 < 10_000) await sleep(25);
      assert.ok(received.some((e) => e.id === row.event.id), 'published through the transport');

      // a registration that fails leaves no event behind: the insert and the event share a transaction
      const before = (await h.outbox()).filter((e) => e.subject === 'user.events.created').length;
      const dup = await h.request('POST', '/api/v1/auth/register', { body: { email, password: GOOD_PASSWORD } });
      assert.equal(dup.statusCode, 409);
      assert.equal((await h.outbox()).filter((e) => e.subject === 'user.events.created').length, before);
    } finally {
      await sub.stop();
      await deleteNatsConsumer(durable);
    }
  });

  test('login_failed is recorded for unknown users too, without the typed email; events carry tenant, ip, request id', async () => {
    const typed = uniqueEmail('typed');
    const res = await h.request('POST', '/api/v1/auth/login', { body: { email: typed, password: 'some wrong password' }, headers: { 'x-request-id': 'req-evt-1' } });
    assert.equal(res.statusCode, 401);
    const ev = (await h.outbox()).find((e) => e.subject === 'auth.events.login_failed' && e.event.data.requestId === 'req-evt-1');
    assert.ok(ev);
    assert.equal(ev.event.data.reason, 'unknown_user');
    assert.equal(ev.event.data.ip, h.ip);
    assert.equal(ev.event.tenantid, DEFAULT_TENANT_ID);
    assert.ok(!JSON.stringify(ev.event).includes(typed));
  });

  test('no secret in any outbox payload after every flow', async () => {
    const secrets: string[] = [];
    const r = await h.register();
    secrets.push(r.password, r.refreshToken, r.accessToken);
    const login = (await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password } })).json();
    secrets.push(login.refreshToken, login.accessToken);
    const refreshed = (await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: login.refreshToken } })).json();
    secrets.push(refreshed.refreshToken, refreshed.accessToken);
    await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: login.refreshToken } }); // reuse
    const newPassword = 'changed passphrase for scan 1';
    secrets.push(newPassword, 'wrong password for scan');
    await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: 'wrong password for scan' } });
    await h.request('POST', '/api/v1/auth/password/change', { token: r.accessToken, body: { currentPassword: r.password, newPassword } });
    await h.request('POST', '/api/v1/auth/password/forgot', { body: { email: r.email } });
    await h.deps.background.idle();
    const mail = h.shared.mailer.messages().filter((m) => m.to === r.email);
    for (const m of mail) secrets.push(/token=([A-Za-z0-9_-]+)/.exec(m.text)![1]!);
    const all = JSON.stringify(await h.outbox());
    for (const s of secrets) assert.ok(!all.includes(s), `a secret leaked into the outbox: ${s.slice(0, 6)}…`);
    assert.ok(!/\$argon2|\$2[aby]\$/.test(all), 'no password hash in the outbox');
  });
});

describe('bad input answers 4xx problem+json, never 5xx', () => {
  const cases: Array<{ name: string; method: 'POST' | 'GET'; url: string; payload?: string; headers?: Record<string, string>; expect: number }> = [
    { name: 'malformed JSON', method: 'POST', url: '/api/v1/auth/login', payload: '{"email": "a@b.c", "password": ', expect: 400 },
    { name: 'JSON array body', method: 'POST', url: '/api/v1/auth/login', payload: '[1,2,3]', expect: 400 },
    { name: 'JSON null body on login', method: 'POST', url: '/api/v1/auth/login', payload: 'null', expect: 400 },
    { name: 'wrong types', method: 'POST', url: '/api/v1/auth/register', payload: JSON.stringify({ email: ['x'], password: { a: 1 } }), expect: 400 },
    { name: 'NUL in the email', method: 'POST', url: '/api/v1/auth/register', payload: JSON.stringify({ email: 'a\u0000b@example.test', password: GOOD_PASSWORD }), expect: 400 },
    { name: 'NUL in the display name', method: 'POST', url: '/api/v1/auth/register', payload: JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, displayName: 'bad\u0000name' }), expect: 400 },
    { name: 'RTL override in the display name', method: 'POST', url: '/api/v1/auth/register', payload: JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, displayName: 'evil\u202egnp.exe' }), expect: 400 },
    // not Unicode text: refused like NUL in any string (issue 9), before the account is looked up
    { name: 'lone surrogate in the password', method: 'POST', url: '/api/v1/auth/login', payload: '{"email":"x@example.test","password":"\\ud800"}', expect: 400 },
    { name: 'oversized body', method: 'POST', url: '/api/v1/auth/register', payload: JSON.stringify({ email: uniqueEmail(), password: 'p'.repeat(100 * 1024) }), expect: 413 },
    { name: 'text/plain body', method: 'POST', url: '/api/v1/auth/login', payload: 'email=a', headers: { 'content-type': 'text/plain' }, expect: 400 },
    { name: 'huge Authorization header', method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${'a'.repeat(60_000)}` }, expect: 401 },
    { name: 'huge tenant header', method: 'POST', url: '/api/v1/auth/login', payload: JSON.stringify({ email: 'x@example.test', password: 'x' }), headers: { 'x-gatehouse-tenant': 'z'.repeat(60_000) }, expect: 404 },
    { name: 'huge refresh token', method: 'POST', url: '/api/v1/auth/refresh', payload: JSON.stringify({ refreshToken: 'r'.repeat(5000) }), expect: 400 },
    { name: 'unknown route', method: 'GET', url: '/api/v1/auth/nope', expect: 404 },
    { name: 'non-numeric limit (validated before auth)', method: 'GET', url: '/api/v1/admin/users?limit=abc', expect: 400 },
    { name: 'XML body', method: 'POST', url: '/api/v1/auth/login', payload: '<a/>', headers: { 'content-type': 'application/xml' }, expect: 415 },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const res = await h.app.inject({
        method: c.method,
        url: c.url,
        payload: c.payload,
        headers: { 'content-type': 'application/json', 'x-gatehouse-tenant': DEFAULT_TENANT_ID, 'x-forwarded-for': h.ip, ...c.headers },
      });
      assert.equal(res.statusCode, c.expect, res.body.slice(0, 300));
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      const body = res.json();
      assert.equal(typeof body.code, 'string');
      assert.ok(!/\n\s+at /.test(res.body), 'no stack trace');
    });
  }

  test('emoji, RTL text and zero-width characters in names are fine where they are meaningful', async () => {
    const res = await h.request('POST', '/api/v1/auth/register', { body: { email: uniqueEmail(), password: `🦄 ${GOOD_PASSWORD} ‏עברית`, displayName: 'שלום 🌍 zero\u200bwidth' } });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().user.displayName, 'שלום 🌍 zero\u200bwidth');
  });
});

describe('OpenAPI', () => {
  test('every public route has tags and a summary, and the document lists the auth and admin paths', async () => {
    const doc = (await h.request('GET', '/openapi.json', { tenant: null })).json();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { tags?: string[]; summary?: string }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(op.tags?.length, `${method} ${path} has tags`);
        assert.ok(op.summary, `${method} ${path} has a summary`);
      }
    }
    for (const p of ['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/admin/users/{id}', '/.well-known/jwks.json']) assert.ok(doc.paths[p], p);
  });
});
