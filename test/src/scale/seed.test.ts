/**
 * The scale bench's seeder (bench/src/scale) at a tiny size, checked through the real API: the
 * seeded accounts log in with the seeded password, every seeded audit chain passes the audit
 * service's own /audit/verify, the prefix search (served by the 0010 indexes) finds seeded
 * users, and the probe event's attendance report lists its whole roster. PostgreSQL only: the
 * seeder loads with COPY FROM STDIN, which PGlite does not take over the wire.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { seedBulk, seedProbe, type Probe } from '../../../bench/src/scale/seed';
import { ADMIN_EMAIL, PASSWORD, VERIFY_SLUG } from '../../../bench/src/scale/data';
import { verifyAuditChains } from '@gatehouse/audit';
import { startTestSystem, type TestSystem } from '../system';

const skip = process.env.TEST_DATABASE_URL ? false : 'the seeder uses COPY FROM STDIN, PostgreSQL only (TEST_DATABASE_URL unset)';

let s: TestSystem;
let probe: Probe;

before(async () => {
  if (skip) return;
  s = await startTestSystem();
  // the audit consumer appends to the chains the seeder continues: keep it stopped meanwhile
  await s.stopBackend('audit');
  const client = new pg.Client({ connectionString: s.config.databaseUrl });
  await client.connect();
  try {
    probe = (await seedProbe(client, { users: 30, bigChain: 300, verifyChain: 120, roster: 25 })).probe;
    await seedBulk(client, { users: 500, sessions: 800, audit: 2000, attendance: 400 });
  } finally {
    await client.end();
  }
  await s.startBackend('audit');
});

after(async () => {
  if (s) await s.close();
});

const xTenant = (slug: string) => ({ 'x-tenant': slug });

async function login(email: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await s.request('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD }, headers });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.accessToken as string;
}

test('seeded accounts log in with the seeded password: a probe user, a bulk user of another tenant', { skip }, async () => {
  const token = await login(probe.users[3]!.email);
  const me = await s.request('GET', '/api/v1/auth/me', { token });
  assert.equal(me.status, 200);
  assert.equal(me.body.email, probe.users[3]!.email);

  const client = new pg.Client({ connectionString: s.config.databaseUrl });
  await client.connect();
  const row = (await client.query<{ email: string; slug: string; n: string }>(
    `select u.email, t.slug, (select count(*) from auth.users) as n from auth.users u join auth.tenants t on t.id = u.tenant_id where t.slug = 'scale-07' limit 1`,
  )).rows[0]!;
  const counts = (await client.query<{ sessions: string; tokens: string; attendance: string }>(
    `select (select count(*) from auth.sessions) as sessions, (select count(*) from auth.refresh_tokens) as tokens, (select count(*) from users.attendance) as attendance`,
  )).rows[0]!;
  await client.end();
  // 32 probe accounts (two admins) + the bulk's 500 (split evenly, rounded down) + the superadmin
  assert.ok(Number(row.n) >= 32 + 490, `users: ${row.n}`);
  assert.ok(Number(counts.sessions) >= 700 && Number(counts.tokens) === Number(counts.sessions), JSON.stringify(counts));
  assert.ok(Number(counts.attendance) >= 25 * 0.5, JSON.stringify(counts));
  await login(row.email, xTenant(row.slug));
});

test('every seeded chain verifies: /audit/verify of the big and the verify tenant, then every tenant\'s chain', { skip }, async () => {
  const big = await login(ADMIN_EMAIL);
  const v1 = await s.request('GET', '/api/v1/audit/verify', { token: big });
  assert.equal(v1.status, 200);
  assert.equal(v1.body.ok, true, JSON.stringify(v1.body));
  // the probe chain (300) and the big tenant's half of the bulk (1,000)
  assert.ok(v1.body.checked >= 1300, JSON.stringify(v1.body));

  const ver = await login(ADMIN_EMAIL, xTenant(VERIFY_SLUG));
  const v2 = await s.request('GET', '/api/v1/audit/verify', { token: ver, headers: xTenant(VERIFY_SLUG) });
  assert.equal(v2.body.ok, true, JSON.stringify(v2.body));
  assert.ok(v2.body.checked >= 120, JSON.stringify(v2.body));

  // every chain, the bulk tenants' too, with the same code as `gatehouse audit verify`
  const all = await verifyAuditChains(s.databases.audit);
  assert.ok(all.length >= 99, `chains: ${all.length}`);
  assert.deepEqual(all.filter((c) => !c.ok), []);
});

test('the prefix search finds seeded users through the indexes; the event report lists the roster', { skip }, async () => {
  const admin = await login(ADMIN_EMAIL);
  const r = await s.request('GET', `/api/v1/admin/users?match=prefix&query=${encodeURIComponent('PROBE-0001')}`, { token: admin });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.items.map((u: { email: string }) => u.email).sort(), probe.users.slice(10, 20).map((u) => u.email).sort());
  // by username too (probe_00012), and a prefix in the middle matches nothing
  const byName = await s.request('GET', '/api/v1/admin/users?match=prefix&query=probe_00012', { token: admin });
  assert.deepEqual(byName.body.items.map((u: { id: string }) => u.id), [probe.users[12]!.id]);
  const middle = await s.request('GET', '/api/v1/admin/users?match=prefix&query=robe-0001', { token: admin });
  assert.deepEqual(middle.body.items, []);
  const contains = await s.request('GET', '/api/v1/admin/users?query=robe-00012', { token: admin });
  assert.deepEqual(contains.body.items.map((u: { id: string }) => u.id), [probe.users[12]!.id]);

  const report = await s.request('GET', `/api/v1/events/${probe.eventId}/attendance`, { token: admin });
  assert.equal(report.status, 200, JSON.stringify(report.body));
  assert.equal(report.body.items.length, probe.rosterSize);
  assert.ok(report.body.items.every((i: { expected: boolean }) => i.expected));
});
