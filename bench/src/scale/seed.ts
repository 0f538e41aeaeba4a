/**
 * The scale seeder (issue 13 item 4): COPY into the migrated auth, users and audit schemas as
 * the owner, never through the API. `seedProbe` writes the fixed probe set both runs measure;
 * `seedBulk` adds the scaled bulk (1,000,000 users, 2,000,000 sessions with their refresh
 * tokens, 10,000,000 audit entries, 100,000 attendance records at BENCH_SCALE=1) over 100
 * tenants, one of them (the default tenant) holding most of it.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { bulkLoad, copyRows, type CopyValue } from './copy';
import {
  ADMIN_EMAIL, ATTENDANCE_COLUMNS, BIG_TENANT, ENTRY_COLUMNS, EVENT_COLUMNS, OTHER_TENANTS, PROFILE_COLUMNS, REFRESH_COLUMNS, SESSION_COLUMNS, USER_COLUMNS, VERIFY_SLUG,
  attendanceRow, bulkUser, chainEntries, eventRow, passwordHash, prng, profileRow, readHead, sessionRows, userRow,
  type BulkSizes, type ProbeSizes, type SeedUser,
} from './data';

export interface TableTiming { table: string; rows: number; seconds: number }
export interface Probe { verifyTenantId: string; users: SeedUser[]; adminEmail: string; eventId: string; rosterSize: number }

async function timed(out: TableTiming[], table: string, fn: () => Promise<number>): Promise<void> {
  const t = performance.now();
  const rows = await fn();
  out.push({ table, rows, seconds: (performance.now() - t) / 1000 });
  console.log(`seed ${table}: ${rows.toLocaleString('en-US')} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

const YEAR = 365 * 86400_000;

/** Tenants (the default one exists), the probe accounts, the 5,000-member event and the two probe chains. */
export async function seedProbe(client: pg.ClientBase, sizes: ProbeSizes): Promise<{ probe: Probe; timings: TableTiming[] }> {
  const timings: TableTiming[] = [];
  const rnd = prng(1);
  const now = Date.now();
  const pw = await passwordHash();
  const verifyTenantId = randomUUID();
  const tenants: Array<[string, string, string]> = [[verifyTenantId, VERIFY_SLUG, 'Scale verify']];
  for (let i = 1; i <= OTHER_TENANTS; i++) tenants.push([randomUUID(), `scale-${String(i).padStart(2, '0')}`, `Scale tenant ${i}`]);
  await timed(timings, 'auth.tenants', () => copyRows(client, 'auth.tenants', ['id', 'slug', 'name'], tenants));

  const admin = (tenantId: string): SeedUser => ({ id: randomUUID(), tenantId, email: ADMIN_EMAIL, username: null, displayName: 'Scale admin', roles: ['user', 'admin', 'organizer'], createdAt: new Date(now - 3 * YEAR) });
  const users: SeedUser[] = [admin(BIG_TENANT), admin(verifyTenantId)];
  for (let i = 0; i < sizes.users; i++) {
    const n = String(i).padStart(5, '0');
    users.push({ id: randomUUID(), tenantId: BIG_TENANT, email: `probe-${n}@example.com`, username: `probe_${n}`, displayName: `Probe ${n}`, roles: ['user'], createdAt: new Date(now - Math.floor(rnd() * 3 * YEAR)) });
  }
  await timed(timings, 'auth.users', () => copyRows(client, 'auth.users', USER_COLUMNS, users.map((u) => userRow(u, pw))));
  await timed(timings, 'users.profiles', () => copyRows(client, 'users.profiles', PROFILE_COLUMNS, users.map(profileRow)));

  const probeUsers = users.slice(2);
  const eventId = randomUUID();
  const startsAt = new Date(now - 86400_000);
  const roster = probeUsers.slice(0, sizes.roster);
  await timed(timings, 'users.events', () => copyRows(client, 'users.events', EVENT_COLUMNS, [eventRow(BIG_TENANT, eventId, 'Scale probe assembly', startsAt, users[0]!.id)]));
  await timed(timings, 'users.event_roster', () => copyRows(client, 'users.event_roster', ['tenant_id', 'event_id', 'user_id', 'added_at'], roster.map((u) => [BIG_TENANT, eventId, u.id, startsAt])));
  // four in five of the expected members checked in; the report lists the rest as absent
  const present = roster.filter(() => rnd() < 0.8);
  await timed(timings, 'users.attendance', () => copyRows(client, 'users.attendance', ATTENDANCE_COLUMNS, present.map((u) => attendanceRow(BIG_TENANT, eventId, u.id, startsAt, users[0]!.id, rnd))));

  const actors = probeUsers.map((u) => u.id);
  await timed(timings, 'audit.entries', async () => {
    const big = chainEntries(BIG_TENANT, await readHead(client, BIG_TENANT), sizes.bigChain, actors, rnd, now - 3 * YEAR, now - 86400_000);
    const ver = chainEntries(verifyTenantId, await readHead(client, verifyTenantId), sizes.verifyChain, [users[1]!.id], rnd, now - YEAR, now);
    return copyRows(client, 'audit.entries', ENTRY_COLUMNS, (function* () { yield* big; yield* ver; })());
  });
  await analyze(client);
  return { probe: { verifyTenantId, users: probeUsers, adminEmail: ADMIN_EMAIL, eventId, rosterSize: roster.length }, timings };
}

/** A UUID (version 4 layout) from the PRNG, so a second pass can regenerate the same ids. */
function prngUuid(rnd: () => number): string {
  let h = '';
  for (let i = 0; i < 4; i++) h += Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16]!, 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Splits `total` over tenants: `bigShare` to the big tenant, the rest evenly over `others`. */
function split(total: number, bigShare: number, others: number): { big: number; each: number } {
  const big = Math.round(total * bigShare);
  return { big, each: others ? Math.floor((total - big) / others) : 0 };
}

/** The scaled bulk, on top of the probe set. Returns one timing per table (COPY plus index rebuild). */
export async function seedBulk(client: pg.ClientBase, sizes: BulkSizes): Promise<TableTiming[]> {
  const timings: TableTiming[] = [];
  const now = Date.now();
  const pw = await passwordHash();
  await client.query(`set maintenance_work_mem = '1GB'; set synchronous_commit = off`);
  const tenants = (await client.query<{ id: string; slug: string }>(`select id, slug from auth.tenants where id = $1 or slug like 'scale-%' order by slug`, [BIG_TENANT])).rows;
  const others = tenants.filter((t) => t.id !== BIG_TENANT);
  const byTenant = new Map<string, string[]>(tenants.map((t) => [t.id, []]));

  // users: 60% in the big tenant, created evenly over three years (so created_at follows the order)
  const us = split(sizes.users, 0.6, others.length);
  const plan: Array<{ id: string; slug: string; n: number }> = [{ ...tenants.find((t) => t.id === BIG_TENANT)!, n: us.big }, ...others.map((t) => ({ ...t, n: us.each }))];
  const rndU = prng(2);
  const usersOf = function* (): Generator<SeedUser> {
    for (const t of plan) {
      const ids = byTenant.get(t.id)!;
      for (let i = 0; i < t.n; i++) {
        const u = bulkUser(t.id, `${t.slug}.example.org`, i, rndU, new Date(now - 3 * YEAR + Math.floor((i / Math.max(1, t.n)) * 3 * YEAR)));
        ids.push(u.id);
        yield u;
      }
    }
  };
  const profiles: CopyValue[][] = [];
  await timed(timings, 'auth.users', () =>
    bulkLoad(client, 'auth', 'users', () => copyRows(client, 'auth.users', USER_COLUMNS, (function* () {
      for (const u of usersOf()) {
        profiles.push(profileRow(u));
        yield userRow(u, pw);
      }
    })())),
  );
  await timed(timings, 'users.profiles', () => bulkLoad(client, 'users', 'profiles', () => copyRows(client, 'users.profiles', PROFILE_COLUMNS, profiles)));
  profiles.length = 0;

  // sessions, and one refresh token each in a second pass over the same PRNG sequence
  const sessionPass = function* (which: 'session' | 'token'): Generator<CopyValue[]> {
    const rnd = prng(3);
    const all = [...byTenant.entries()].filter(([, ids]) => ids.length > 0);
    const totalUsers = all.reduce((s, [, ids]) => s + ids.length, 0);
    for (const [tenantId, ids] of all) {
      const n = Math.round((sizes.sessions * ids.length) / totalUsers);
      for (let i = 0; i < n; i++) {
        const id = prngUuid(rnd);
        const r = sessionRows(tenantId, ids[Math.floor(rnd() * ids.length)]!, rnd, now, id);
        yield which === 'session' ? r.session : r.token;
      }
    }
  };
  await timed(timings, 'auth.sessions', () => bulkLoad(client, 'auth', 'sessions', () => copyRows(client, 'auth.sessions', SESSION_COLUMNS, sessionPass('session'))));
  await timed(timings, 'auth.refresh_tokens', () => bulkLoad(client, 'auth', 'refresh_tokens', () => copyRows(client, 'auth.refresh_tokens', REFRESH_COLUMNS, sessionPass('token'))));

  // audit: half in the big tenant, the rest over the others but the verify tenant (its chain is fixed)
  const chained = others.filter((t) => t.slug !== VERIFY_SLUG);
  const as = split(sizes.audit, 0.5, chained.length);
  const rndA = prng(4);
  const heads = new Map<string, Awaited<ReturnType<typeof readHead>>>();
  for (const t of [{ id: BIG_TENANT }, ...chained]) heads.set(t.id, await readHead(client, t.id));
  await timed(timings, 'audit.entries', () =>
    bulkLoad(client, 'audit', 'entries', () => copyRows(client, 'audit.entries', ENTRY_COLUMNS, (function* () {
      yield* chainEntries(BIG_TENANT, heads.get(BIG_TENANT)!, as.big, byTenant.get(BIG_TENANT)!, rndA, now - 3 * YEAR, now);
      for (const t of chained) yield* chainEntries(t.id, heads.get(t.id)!, as.each, byTenant.get(t.id)!, rndA, now - 3 * YEAR, now);
    })())),
  );

  // attendance: events of 200 members each, spread over the tenants by their member count
  const rndE = prng(5);
  const events: Array<{ tenantId: string; id: string; startsAt: Date; members: string[] }> = [];
  const eligible = [...byTenant.entries()].filter(([, ids]) => ids.length >= 200);
  const eligibleUsers = eligible.reduce((s, [, ids]) => s + ids.length, 0);
  // whole events per tenant, the fractions carried on so the total comes to sizes.attendance
  let carried = 0;
  let made = 0;
  for (const [tenantId, ids] of eligible) {
    carried += (sizes.attendance * ids.length) / eligibleUsers / 200;
    const n = Math.round(carried) - made;
    made += n;
    for (let i = 0; i < n; i++) {
      const from = Math.floor(rndE() * (ids.length - 200));
      events.push({ tenantId, id: randomUUID(), startsAt: new Date(now - Math.floor(rndE() * 2 * YEAR)), members: ids.slice(from, from + 200) });
    }
  }
  await timed(timings, 'users.events', () => bulkLoad(client, 'users', 'events', () => copyRows(client, 'users.events', EVENT_COLUMNS, events.map((e) => eventRow(e.tenantId, e.id, 'Weekly meeting', e.startsAt, e.members[0]!)))));
  await timed(timings, 'users.attendance', () =>
    bulkLoad(client, 'users', 'attendance', () => copyRows(client, 'users.attendance', ATTENDANCE_COLUMNS, (function* () {
      for (const e of events) for (const m of e.members) yield attendanceRow(e.tenantId, e.id, m, e.startsAt, e.members[0]!, rndE);
    })())),
  );
  await timed(timings, 'vacuum analyze', async () => { await analyze(client); return 0; });
  return timings;
}

/** VACUUM ANALYZE of the three schemas' tables (what autovacuum would reach after a load). */
export async function analyze(client: pg.ClientBase): Promise<void> {
  const t = await client.query<{ rel: string }>(`select format('%I.%I', schemaname, tablename) as rel from pg_tables where schemaname in ('auth', 'users', 'audit')`);
  for (const r of t.rows) await client.query(`vacuum analyze ${r.rel}`);
}
