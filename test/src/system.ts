/**
 * The in-process test system: the whole of Gatehouse in this process — auth, users and audit
 * each on a loopback port, the real gateway in front of them on real HTTP — started by the
 * platform's `startInProcess`, the same wiring as `gatehouse start`, on the test run's servers:
 *
 * - one fresh PostgreSQL database (each service in its own schema) when TEST_DATABASE_URL is
 *   set, else PGlite per service under a temporary DATA_DIR;
 * - Redis (TEST_REDIS_URL) with a key prefix of its own, else the in-memory store;
 * - NATS JetStream (TEST_NATS_URL, or `natsUrl`: a server of the test's own; `null`:
 *   in-process events) with a stream and subject prefix of its own.
 *
 * So test files run in parallel against the same servers without meeting. `close()` removes
 * everything again (database, stream, temporary directory). Every cross-service suite and the
 * browser tests use it.
 *
 * ```ts
 * import { startTestSystem, BASE_DOMAIN } from '../system';
 * const s = await startTestSystem({ baseDomain: BASE_DOMAIN });   // or { env: { … } }
 * const acme = await s.createTenant({ slug: 'acme-1' });            // as the superadmin, through the API
 * const ada = await s.register({ tenant: acme.slug });              // Host: acme-1.gatehouse.test
 * const me = await s.request('GET', '/api/v1/auth/me', { tenant: acme.slug, token: ada.accessToken });
 * await s.stopBackend('audit'); await s.startBackend('audit');      // a consumer that was down
 * await s.close();
 * ```
 *
 * With `baseDomain`, tenants are addressed the way production does: `tenant: slug` sends
 * `Host: <slug>.<baseDomain>` and PUBLIC_URL is `https://<baseDomain>`. Without it the
 * defaults stand (PUBLIC_URL on localhost: cookies without Secure, for the browser tests).
 * `s.services.<name>.deps` and `s.databases` give each service's own handles; `s.direct(…)`
 * talks to one service without the gateway. Request-rate limits are off (suites send bursts
 * from one address) unless `env` sets them; credential throttling stays on.
 *
 * Not for production (`cli/src/start.ts` is that). Test-only module.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import type { ServiceInstance } from '@gatehouse/platform/service';
import { startInProcess } from '@gatehouse/platform/system';
import { createTestDatabase, createTestShared, testLogger, type TestShared } from '@gatehouse/platform/testing';
import { authService, type AuthDeps } from '@gatehouse/auth';
import { usersService, type UsersDeps } from '@gatehouse/users';
import { auditService, type AuditDeps } from '@gatehouse/audit';
import { gatewayService, type GatewayDeps } from '@gatehouse/gateway';
import { call, login as loginAt, PASSWORD, register as registerAt, uniqueEmail, uniqueSlug, type Account, type Reply, type RequestOptions } from './client';

export { auditEntriesOfType, call, eventually, mapLimit, ndjson, PASSWORD, uniqueEmail, uniqueSlug, type Account, type Reply } from './client';

/** The base domain tenant suites use: `<slug>.gatehouse.test`. */
export const BASE_DOMAIN = 'gatehouse.test';

/** Options of a request through the system: {@link RequestOptions} and another base URL. */
export interface SystemRequestOptions extends Omit<RequestOptions, 'baseDomain'> {
  /** send to this base URL instead (a proxy in front of the gateway, e.g. nginx) */
  base?: string;
}

/** A tenant as the admin API returns it. */
export interface TenantInfo {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  settings: Record<string, unknown>;
  createdAt: string;
}

export interface TestSystemOptions {
  /** extra environment for loadConfig (e.g. TRUST_PROXY, QR_TOKEN_TTL_SEC); wins over the defaults */
  env?: Record<string, string>;
  /** the gateway's port (default: any free one); with env PUBLIC_URL=http://localhost:<port> a browser reaches the default tenant's issuer */
  port?: number;
  /** tenants by host name under this domain (BASE_DOMAIN, PUBLIC_URL https://<domain>) */
  baseDomain?: string;
  /** NATS: a server of the test's own, or null for in-process events; default TEST_NATS_URL */
  natsUrl?: string | null;
  /** the superadmin created in the default tenant; default a generated one */
  superadmin?: { email: string; password: string };
  /** names in the shared servers (Redis key prefix, NATS stream and subject prefix); default random */
  prefix?: string;
  logger?: Logger;
}

/** The services behind the gateway that a test may stop and start again. */
export type BackendName = 'users' | 'audit';

type Handle<D> = { app: ServiceInstance<D>['app']; url: string; deps: D };

/**
 * Starts the system; see the module comment. Always `close()` it (in `after`), also when a
 * test failed.
 */
export async function startTestSystem(opts: TestSystemOptions = {}) {
  const logger = opts.logger ?? testLogger;
  const prefix = opts.prefix ?? `ghs${randomBytes(5).toString('hex')}`;
  const baseDomain = opts.baseDomain;
  const undo: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const f of undo.reverse()) await f().catch((err: unknown) => logger.error({ err }, 'test system close step failed'));
  };
  try {
    const testDb = await createTestDatabase();
    undo.push(() => testDb.drop());
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-system-'));
    undo.push(() => rm(dataDir, { recursive: true, force: true }));
    const superadmin = opts.superadmin ?? { email: `root-${prefix}@example.test`, password: `${PASSWORD} root` };
    const config: Config = loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: testDb.url,
      ...(baseDomain ? { BASE_DOMAIN: baseDomain, PUBLIC_URL: `https://${baseDomain}` } : {}),
      GATEHOUSE_ADMIN_EMAIL: superadmin.email,
      GATEHOUSE_ADMIN_PASSWORD: superadmin.password,
      GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
      RATE_LIMIT_IP_MAX: '0',
      RATE_LIMIT_USER_MAX: '0',
      RATE_LIMIT_CREDENTIALS_MAX: '0',
      // suites send many requests at once, all from 127.0.0.1
      MAX_IN_FLIGHT_PER_IP: '0',
      // every service's gRPC API on a free loopback port (s.grpcUrl)
      GRPC_PORT: '0',
      LOG_LEVEL: logger.level,
      ...opts.env,
    });
    const shared: TestShared = await createTestShared({ prefix, natsUrl: opts.natsUrl, logger });
    undo.push(() => shared.close());
    const system = await startInProcess({
      config,
      shared,
      services: [authService, usersService, auditService],
      gateway: gatewayService,
      options: { gateway: { rateLimitNamespace: `${prefix}:rl:` } },
      listen: { host: '127.0.0.1', port: opts.port ?? 0 },
    });
    undo.push(() => system.close());
    const url = system.url;
    const urls = system.urls as Record<'auth' | 'users' | 'audit', string>;
    const auth = system.service('auth') as ServiceInstance<AuthDeps>;
    const handle = <D>(name: 'auth' | 'users' | 'audit' | 'gateway'): Handle<D> => {
      const s = system.service(name) as ServiceInstance<D> | undefined;
      if (!s) throw new Error(`${name} is stopped`);
      return { app: s.app, url: name === 'gateway' ? url : urls[name], deps: s.deps };
    };

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
    const request = <T = any>(method: string, p: string, o: SystemRequestOptions = {}): Promise<Reply<T>> => call<T>(o.base ?? url, method, p, { ...o, baseDomain });
    const register = (o: { tenant?: string; email?: string; password?: string; username?: string } = {}): Promise<Account> => registerAt(url, { ...o, baseDomain });
    const login = (email: string, password: string, o: { tenant?: string } = {}): Promise<Account> => loginAt(url, email, password, { ...o, baseDomain });

    let rootToken: { token: string; at: number } | undefined;
    /** An access token of the configured superadmin (default tenant), renewed before it expires. */
    async function superadminToken(): Promise<string> {
      if (!rootToken || Date.now() - rootToken.at > 5 * 60_000) {
        rootToken = { token: (await login(superadmin.email, superadmin.password)).accessToken, at: Date.now() };
      }
      return rootToken.token;
    }

    /**
     * Creates a tenant through the admin API as the superadmin, with its first admin
     * (`admin` account, signed in) unless `withAdmin` is false.
     */
    async function createTenant(o: { slug?: string; name?: string; settings?: Record<string, unknown>; withAdmin?: boolean; adminPassword?: string } = {}) {
      const slug = o.slug ?? uniqueSlug();
      const adminEmail = uniqueEmail(`admin-${slug}`);
      const adminPassword = o.adminPassword ?? PASSWORD;
      const r = await request('POST', '/api/v1/admin/tenants', {
        token: await superadminToken(),
        body: { slug, name: o.name ?? `Tenant ${slug}`, settings: o.settings, admin: o.withAdmin === false ? undefined : { email: adminEmail, password: adminPassword } },
      });
      if (r.status !== 201) throw new Error(`create tenant ${slug}: ${r.status} ${r.text}`);
      const tenant = r.body as TenantInfo;
      const admin = o.withAdmin === false ? undefined : await login(adminEmail, adminPassword, { tenant: tenant.slug });
      return { ...tenant, admin };
    }

    return {
      /** the gateway's base URL, e.g. http://127.0.0.1:41234 */
      url,
      /** every service's gRPC API (GRPC_PORT, a free port), e.g. http://127.0.0.1:41235 */
      grpcUrl: system.grpc?.url,
      /** `127.0.0.1:<port>` of the gateway, for Host headers of requests to the deployment itself */
      address: new URL(url).host,
      baseDomain,
      config,
      shared,
      prefix,
      superadmin,
      /** the superadmin, as the e2e suites call it */
      admin: superadmin,
      /** the auth service (never stopped): its deps (database, outbox relay, keys) */
      auth,
      /** the gateway (never stopped) */
      gateway: system.gateway as ServiceInstance<GatewayDeps>,
      /** the stream and subject prefix events go to when the transport is NATS */
      nats: shared.natsUrl && shared.stream ? { url: shared.natsUrl, stream: shared.stream, subjectPrefix: prefix } : undefined,
      /** each running service's app, URL and deps (throws for a stopped one) */
      services: {
        get auth() {
          return handle<AuthDeps>('auth');
        },
        get users() {
          return handle<UsersDeps>('users');
        },
        get audit() {
          return handle<AuditDeps>('audit');
        },
        get gateway() {
          return handle<GatewayDeps>('gateway');
        },
      },
      /** each service's database handle: `withTenant` runs as the application role under RLS */
      databases: {
        get auth() {
          return handle<AuthDeps>('auth').deps.db;
        },
        get users() {
          return handle<UsersDeps>('users').deps.db;
        },
        get audit() {
          return handle<AuditDeps>('audit').deps.db;
        },
      },
      /** the running users or audit service, undefined while stopped */
      backend: (name: BackendName) => system.service(name),
      /** Closes the service (app, then its consumers, relay and database); the gateway stays up. */
      stopBackend: (name: BackendName) => system.stop(name),
      /** Creates the service again on the same database and listens on the same port. */
      startBackend: (name: BackendName) => system.restart(name),
      request,
      /** A request straight to one service, bypassing the gateway (as a compromised or misrouted caller would). */
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
      direct: <T = any>(service: 'auth' | 'users' | 'audit', method: string, p: string, o: SystemRequestOptions = {}) => request<T>(method, p, { ...o, base: urls[service] }),
      /** fetch() against the gateway: `path` is appended to the URL */
      fetch: (p: string, init?: RequestInit) => fetch(`${url}${p}`, init),
      register,
      login,
      superadminToken,
      createTenant,
      /** Stops everything and removes what the system created. */
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
export type TestSystem = Awaited<ReturnType<typeof startTestSystem>>;

/** Event-to-visible latencies of the audit trail, in milliseconds. */
export interface AuditLatency {
  samples: number[];
  p50: number;
  p95: number;
  max: number;
}

/**
 * The audit figure for benchmarks: for each of `samples` sign-ups through the gateway, the time
 * from the 201 to the account's `user.events.created` entry showing in its own
 * `GET /api/v1/audit/me` (auth outbox → transport → audit consumer → hash chain → query),
 * polled every `pollMs`. Sign-ups run one after another so the figure is latency, not queueing.
 * Throws when an entry does not show within `timeoutMs`. Nothing here judges the numbers.
 */
export async function measureAuditLatency(system: Pick<TestSystem, 'url'>, opts: { samples?: number; pollMs?: number; timeoutMs?: number } = {}): Promise<AuditLatency> {
  const samples: number[] = [];
  const n = opts.samples ?? 20;
  const pollMs = opts.pollMs ?? 2;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (let i = 0; i < n; i++) {
    const reg = await call(system.url, 'POST', '/api/v1/auth/register', { body: { email: `latency-${randomBytes(6).toString('hex')}@example.test`, password: PASSWORD } });
    const answered = performance.now();
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.text}`);
    const token = reg.body.accessToken as string;
    for (;;) {
      const res = await call<{ items?: unknown[] }>(system.url, 'GET', '/api/v1/audit/me?type=user.events.created', { token });
      if (res.status === 200 && (res.body.items?.length ?? 0) > 0) break;
      if (performance.now() - answered > timeoutMs) throw new Error(`no audit entry after ${timeoutMs} ms (last answer ${res.status})`);
      await sleep(pollMs);
    }
    samples.push(performance.now() - answered);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return { samples, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] ?? 0 };
}

/** What the backing servers are, for test names and skip messages. */
export function describeBackends(s: Pick<TestSystem, 'config' | 'shared'>): string {
  return [
    s.config.databaseUrl ? 'PostgreSQL' : 'PGlite',
    s.shared.kv.kind === 'redis' ? 'Redis' : 'memory kv',
    s.shared.transport.kind === 'nats' ? 'NATS JetStream' : 'in-process events',
  ].join(', ');
}
