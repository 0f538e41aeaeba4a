/**
 * `node --import tsx bench/src/query-cost.ts [BASE_ROOT]` (issue 13): the event loop's CPU per
 * call of the statements of a login and of a refresh, without the database: each statement
 * function of the auth service runs against a Kysely instance whose driver answers at once
 * with one empty row, so what is timed is building, compiling and executing
 * through Kysely, the part `preparedQuery` (platform/prepared.ts) cuts. With a base checkout
 * (BASE_ROOT, e.g. /tmp/gh-login-base), the same functions of both checkouts alternate in
 * rounds (A = base, B = this checkout); medians of µs per call. Load on the machine inflates
 * both sides alike, so the ratio is the firm figure.
 */
import path from 'node:path';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { root } from './lib';

const base = process.argv[2] ?? process.env.BENCH_BASE_ROOT;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const N = Number(process.env.BENCH_N ?? 3000);

/** A driver that answers every statement at once with one empty row (no statement function throws for a missing row). */
const connection: DatabaseConnection = {
  executeQuery: <R>() => Promise.resolve({ rows: [{} as R] } satisfies QueryResult<R>),
  // eslint-disable-next-line require-yield
  streamQuery: async function* () {
    throw new Error('not used');
  },
};
const driver: Driver = {
  init: async () => {},
  acquireConnection: async () => connection,
  beginTransaction: async () => {},
  commitTransaction: async () => {},
  rollbackTransaction: async () => {},
  releaseConnection: async () => {},
  destroy: async () => {},
};

const db = new Kysely<never>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => driver,
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

const ID = '00000000-0000-4000-8000-000000000001';
const HASH = 'a'.repeat(64);

type Fn = (trx: unknown) => Promise<unknown>;

/** The statements of a login and of a refresh, as the auth service of `checkout` runs them. */
async function statements(checkout: string): Promise<{ login: Record<string, Fn>; refresh: Record<string, Fn> }> {
  const mod = (p: string) => import(path.join(checkout, p));
  const users = await mod('services/auth/src/modules/users/users.queries.ts');
  const sessions = await mod('services/auth/src/modules/sessions/sessions.queries.ts');
  const roles = await mod('services/auth/src/modules/roles/roles.queries.ts');
  const tenants = await mod('services/auth/src/modules/tenants/tenants.queries.ts');
  const mfa = await mod('services/auth/src/modules/mfa/mfa.queries.ts');
  const outbox = await mod('packages/platform/src/events/outbox.ts');
  const envelope = await mod('packages/platform/src/events/envelope.ts');
  const event = envelope.makeEvent({ type: 'auth.events.login_succeeded', source: 'bench', tenantId: ID, data: { userId: ID, sessionId: ID, method: 'password' } });
  return {
    login: {
      tenant: (t) => tenants.findTenantById(t, ID),
      user: (t) => users.findUserByEmail(t, 'someone@example.com'),
      // the base reads the factors with a statement of its own; this checkout compiles the lead
      // withTenantLed sends with the transaction's open
      factors: mfa.secondFactorsLead ? async (t) => mfa.secondFactorsLead(ID).compile(t) : (t) => mfa.secondFactors(t, ID),
      lastLogin: users.setLastLogin ? (t) => users.setLastLogin(t, ID, new Date()) : (t) => users.updateUser(t, ID, { last_login_at: new Date() }),
      session: (t) => sessions.insertSession(t, { id: ID, tenant_id: ID, user_id: ID, ip: '127.0.0.1', user_agent: 'bench', amr: ['pwd'], absoluteSec: 3600, idleSec: 600 }),
      refreshToken: (t) => sessions.insertRefreshToken(t, { token_hash: HASH, tenant_id: ID, session_id: ID }),
      roles: (t) => roles.rolesAndPermissions(t, ID),
      outbox: (t) => outbox.enqueueEvents(t, 'auth', [event]),
    },
    refresh: {
      lookup: (t) => sessions.findRefreshWithTenant(t, HASH),
      rotate: (t) => sessions.rotateRefreshToken(t, { tokenHash: HASH, nextHash: HASH, idleSec: 600, ip: '127.0.0.1' }),
    },
  };
}

async function timeOne(fn: Fn): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn(db);
  return ((performance.now() - t0) * 1000) / N;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main() {
  const sides = [...(base ? [['A', base] as const] : []), ['B', root] as const];
  const sets = await Promise.all(sides.map(async ([side, dir]) => ({ side, set: await statements(dir) })));
  const results: Record<string, Record<string, number[]>> = {};
  // warm-up (JIT), then alternating rounds
  for (const { set } of sets) for (const path_ of ['login', 'refresh'] as const) for (const fn of Object.values(set[path_])) for (let i = 0; i < 500; i++) await fn(db);
  for (let r = 0; r < ROUNDS; r++) {
    for (const { side, set } of sets) {
      for (const path_ of ['login', 'refresh'] as const) {
        for (const [name, fn] of Object.entries(set[path_])) {
          const key = `${path_}.${name}`;
          ((results[key] ??= {})[side] ??= []).push(await timeOne(fn));
        }
      }
    }
  }
  const hasA = Boolean(base);
  console.log(`| statement | ${hasA ? 'A µs | B µs | B − A |' : 'µs |'}\n|---|${hasA ? '---:|---:|---:|' : '---:|'}`);
  const sum: Record<string, { A: number; B: number }> = {};
  for (const [key, bySide] of Object.entries(results)) {
    const a = hasA ? median(bySide.A!) : NaN;
    const b = median(bySide.B!);
    const p = key.split('.')[0]!;
    sum[p] ??= { A: 0, B: 0 };
    sum[p].A += a;
    sum[p].B += b;
    console.log(hasA ? `| ${key} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b - a).toFixed(1)} |` : `| ${key} | ${b.toFixed(1)} |`);
  }
  for (const [p, s] of Object.entries(sum)) console.log(hasA ? `| **${p}, all** | ${s.A.toFixed(1)} | ${s.B.toFixed(1)} | ${(s.B - s.A).toFixed(1)} |` : `| **${p}, all** | ${s.B.toFixed(1)} |`);
  await db.destroy();
}

await main();
