/**
 * `npx tsx bench/src/named-check.ts` (TEST_DATABASE_URL, TEST_REDIS_URL, TEST_NATS_URL as for
 * the tests): shows that the auth service's hot statements are prepared once per connection and
 * then reused (issue 13, platform prepared.ts / db.pool.ts). Starts the auth service with one
 * connection per pool (DATABASE_POOL_SIZE=1), registers, logs in and refreshes a few times,
 * then reads `pg_prepared_statements` from each pool's one connection: the owner's (token and
 * tenant lookups) and withTenant's (the rest). A sanity check, not a measurement.
 */
import { sql } from 'kysely';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startAuth } from '../../services/auth/src/testing';

const LOGINS = 8;
const REFRESHES = 12;

const h = await startAuth({ DATABASE_POOL_SIZE: '1' });
try {
  const r = await h.register();
  for (let i = 0; i < LOGINS; i++) {
    const res = await h.request('POST', '/api/v1/auth/login', { body: { email: r.email, password: r.password } });
    if (res.statusCode !== 200) throw new Error(`login ${res.statusCode}`);
  }
  let token = r.refreshToken;
  for (let i = 0; i < REFRESHES; i++) {
    const res = await h.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: token } });
    if (res.statusCode !== 200) throw new Error(`refresh ${res.statusCode}`);
    token = res.json().refreshToken;
  }
  const me = await h.request('GET', '/api/v1/auth/me', { token: r.accessToken });
  if (me.statusCode !== 200) throw new Error(`me ${me.statusCode}`);
  const q = sql<{ name: string; generic_plans: number; custom_plans: number; statement: string }>`
    select name, generic_plans::int, custom_plans::int, left(regexp_replace(statement, '\\s+', ' ', 'g'), 90) as statement
    from pg_prepared_statements order by prepare_time`;
  const show = (label: string, rows: Array<{ name: string; generic_plans: number; custom_plans: number; statement: string }>) => {
    console.log(`\n${label}: ${rows.length} named statements`);
    console.log('| name | generic plans | custom plans | statement (first 90 characters) |\n|---|---:|---:|---|');
    for (const s of rows) console.log(`| ${s.name} | ${s.generic_plans} | ${s.custom_plans} | \`${s.statement}\` |`);
  };
  console.log(`1 registration, ${LOGINS} logins, ${REFRESHES} refreshes, 1 GET /me (and the outbox relay beside them)`);
  show('owner pool (its one connection)', (await q.execute(h.deps.db.admin)).rows);
  show('withTenant pool (its one connection)', await h.deps.db.withTenant(DEFAULT_TENANT_ID, async (trx) => (await q.execute(trx)).rows));
} finally {
  await h.close();
}
