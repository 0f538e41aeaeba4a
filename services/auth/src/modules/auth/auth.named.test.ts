/**
 * The login's statements run as named prepared statements on PostgreSQL (platform prepared.ts,
 * db.pool.ts). A migration that changes the type of a column they return, applied while the
 * service runs, breaks the statement prepared on each connection ("cached plan must not change
 * result type"): the login in flight must answer a retryable 503 problem (never a 500), and the
 * next logins must succeed on fresh connections.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { startAuth, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  // two connections per pool, both kept busy below, so both prepare the login's statements
  h = await startAuth({ DATABASE_POOL_SIZE: '2' });
});
after(async () => {
  await h.close();
});

test('a column type changed under the running service: one login answers 503 service_unavailable with Retry-After, the following ones 200', async (t) => {
  if (h.deps.db.kind !== 'postgres') return t.skip('PGlite has no named statements');
  const accounts = [await h.register(), await h.register()];
  const login = (a: (typeof accounts)[number]) => h.request('POST', '/api/v1/auth/login', { body: { email: a.email, password: a.password } });
  // logins two at a time: the user lookup is prepared on both connections of the tenant pool
  for (let i = 0; i < 3; i++) for (const res of await Promise.all(accounts.map(login))) assert.equal(res.statusCode, 200);

  // what a migration might do: a column the user lookup returns changes type
  await sql`alter table users alter column display_name type varchar(200)`.execute(h.deps.db.admin);

  // the next login on a connection that prepared the lookup fails (each connection the pool
  // holds did, above; one at a time, in case a connection made for something else comes first)
  let first = await login(accounts[0]!);
  for (let i = 0; i < 2 && first.statusCode === 200; i++) first = await login(accounts[0]!);
  assert.equal(first.statusCode, 503, first.body);
  assert.match(String(first.headers['content-type']), /application\/problem\+json/);
  assert.equal(first.json().code, 'service_unavailable');
  assert.equal(first.headers['retry-after'], '1');
  // the pool replaced its connections: every login after it succeeds, two at a time
  for (let i = 0; i < 3; i++) {
    const results = await Promise.all(accounts.map(login));
    assert.deepEqual(results.map((r) => r.statusCode), [200, 200], results.map((r) => r.body).join('\n'));
  }
});
