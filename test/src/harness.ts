/**
 * Test harness for black-box suites: the whole Gatehouse system in this process — auth, users
 * and audit each on a loopback port, the real gateway in front of them on real HTTP — wired as
 * `gatehouse start` wires it, on the test run's servers:
 *
 * - one fresh PostgreSQL database (each service in its own schema) when TEST_DATABASE_URL is
 *   set, else PGlite per service under a temporary DATA_DIR;
 * - Redis (TEST_REDIS_URL) with a key prefix of its own, else the in-memory store;
 * - NATS JetStream (TEST_NATS_URL) with a stream and subject prefix of its own, else the
 *   in-process transport.
 *
 * So test files run in parallel against the same servers without meeting. Everything is
 * removed again by `close()` (database, stream, temporary directory).
 *
 * ```ts
 * import { startHarness } from '../harness';
 * const h = await startHarness();                       // or startHarness({ env: { … } })
 * const acme = await h.createTenant({ slug: 'acme-1' });  // as the superadmin, through the API
 * const ada = await h.register({ tenant: acme.slug });   // Host: acme-1.gatehouse.test
 * const me = await h.request('GET', '/api/v1/auth/me', { tenant: acme.slug, token: ada.accessToken });
 * await h.close();
 * ```
 *
 * Tenants are addressed the way production does: `tenant: slug` sends
 * `Host: <slug>.<BASE_DOMAIN>` (BASE_DOMAIN is `gatehouse.test` here); `headers` can carry
 * `x-tenant` or anything else. `h.services.<name>.deps` and `h.databases` give each service's
 * own handles (its `Database` for RLS checks, auth's deps for its functions); `h.direct(…)`
 * talks to one service without the gateway. Request-rate limits are off (suites send bursts
 * from one address) unless `env` sets them; credential throttling stays on.
 *
 * Not for production (`cli/src/start.ts` is that). Test-only module.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request as undiciRequest } from 'undici';
import client from 'prom-client';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { createMemoryTransport, createNatsTransport } from '@gatehouse/platform/events';
import type { HttpApp } from '@gatehouse/platform/http';
import { createKvStore } from '@gatehouse/platform/kv';
import { createMailer } from '@gatehouse/platform/mail';
import { createRevocationList } from '@gatehouse/platform/revocation';
import type { RunningService, SharedDeps } from '@gatehouse/platform/service';
import { createTestDatabase, testLogger, testServers } from '@gatehouse/platform/testing';
import { createAuthService, type AuthDeps } from '@gatehouse/auth/service';
import { createDeps as createUsersDeps, type UsersDeps } from '@gatehouse/users/deps';
import { buildApp as buildUsersApp } from '@gatehouse/users/app';
import { createAuditDeps, type AuditDeps } from '@gatehouse/audit/deps';
import { buildApp as buildAuditApp } from '@gatehouse/audit/app';
import { createGatewayService } from '@gatehouse/gateway/service';

/** A password that passes the policy (at least 30 characters: fine for minimums up to 30). */
export const PASSWORD = 'correct horse battery staple 7';

/** The base domain tenants live under in the harness: `<slug>.gatehouse.test`. */
export const BASE_DOMAIN = 'gatehouse.test';

/** A response with its body read: parsed JSON when it is JSON, else the text. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
export interface Reply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

/** Options of {@link Harness.request}. */
export interface RequestOptions {
  /** bearer token */
  token?: string;
  /** a JSON body; a string or Buffer is sent as it is (content-type application/json unless `headers` say otherwise) */
  body?: unknown;
  /** tenant slug: sent as `Host: <slug>.<BASE_DOMAIN>` */
  tenant?: string;
  /** the Host header itself (wins over `tenant`) */
  host?: string;
  headers?: Record<string, string>;
  /** send to this base URL instead (a proxy in front of the gateway, e.g. nginx) */
  base?: string;
}

/** An account as a test holds it. */
export interface Account {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  /** the tenant slug it was created through (undefined: default tenant) */
  tenant?: string;
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

export interface HarnessOptions {
  /** extra environment for loadConfig (e.g. TRUST_PROXY, TENANT_HEADER); wins over the defaults */
  env?: Record<string, string>;
  /** names in the shared servers (Redis key prefix, NATS stream and subject prefix); default random */
  prefix?: string;
}

type ServiceHandle<D> = { app: HttpApp; url: string; deps: D; close(): Promise<void> };

/** Unique e-mail addresses per process, so files can share servers. */
const run = randomBytes(4).toString('hex');
let counter = 0;
/** A fresh e-mail address. */
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${run}-${counter}@example.test`;
}

/** A fresh tenant slug (a DNS label). */
export function uniqueSlug(label = 't'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

export { eventually } from '@gatehouse/platform/testing';

/** Listens on 127.0.0.1 and returns the base URL. */
async function listen(app: HttpApp): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** Shared deps like `createSharedDeps`, with names of their own on the shared Redis and NATS. */
async function createShared(prefix: string): Promise<SharedDeps> {
  const logger = testLogger;
  const kv = createKvStore({ url: testServers.redisUrl, keyPrefix: `${prefix}:`, logger });
  const transport = testServers.natsUrl
    ? await createNatsTransport({ url: testServers.natsUrl, logger, stream: prefix.toUpperCase(), subjectPrefix: prefix, maxAgeMs: 30 * 60_000 })
    : createMemoryTransport({ logger, retryBaseMs: 50 });
  const revocations = createRevocationList({ kv, logger });
  await revocations.start();
  const mailer = createMailer({ from: 'Gatehouse <no-reply@localhost>', logger });
  return { logger, kv, transport, revocations, mailer, registry: new client.Registry() };
}

/**
 * Starts the system; see the module comment. Always `close()` it (in `after`), also when a
 * test failed.
 */
export async function startHarness(opts: HarnessOptions = {}) {
  const prefix = opts.prefix ?? `ghh${randomBytes(5).toString('hex')}`;
  const testDb = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-harness-'));
  const superadmin = { email: `root-${prefix}@example.test`, password: `${PASSWORD} root` };
  const config: Config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: testDb.url,
    BASE_DOMAIN,
    PUBLIC_URL: `https://${BASE_DOMAIN}`,
    GATEHOUSE_ADMIN_EMAIL: superadmin.email,
    GATEHOUSE_ADMIN_PASSWORD: superadmin.password,
    GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    RATE_LIMIT_IP_MAX: '0',
    RATE_LIMIT_USER_MAX: '0',
    RATE_LIMIT_CREDENTIALS_MAX: '0',
    // the harness's agent runs up to 64 requests at once, all from 127.0.0.1
    MAX_IN_FLIGHT_PER_IP: '0',
    LOG_LEVEL: testLogger.level,
    ...opts.env,
  });
  const shared = await createShared(prefix);
  // services trust the gateway's X-Forwarded-For, as in `gatehouse start`
  const serviceConfig: Config = { ...config, trustProxy: ['127.0.0.1', '::1'] };
  const closers: Array<() => Promise<void>> = [];
  const agent = new Agent({ connections: 64 });

  async function cleanup(): Promise<void> {
    for (const c of closers.reverse()) await c().catch((err: unknown) => testLogger.error({ err }, 'harness close step failed'));
    await shared.revocations.stop().catch(() => {});
    await shared.transport.close().catch(() => {});
    if (testServers.natsUrl) {
      const nc = await connect({ servers: testServers.natsUrl, timeout: 2000 }).catch(() => undefined);
      if (nc) {
        await (await jetstreamManager(nc)).streams.delete(prefix.toUpperCase()).catch(() => false);
        await nc.close();
      }
    }
    await shared.mailer.close().catch(() => {});
    await shared.kv.close().catch(() => {});
    await agent.close().catch(() => {});
    await testDb.drop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }

  try {
    const authService = await createAuthService(serviceConfig, shared);
    closers.push(async () => {
      await authService.app.close();
      await authService.close();
    });
    const auth: ServiceHandle<AuthDeps> = { app: authService.app, url: await listen(authService.app), deps: authService.deps, close: authService.close };
    serviceConfig.serviceUrls = { auth: auth.url };
    // one process: users and audit verify tokens with auth's own key lookup, as `gatehouse start` does
    const jwks = authService.deps.keys.getKey;

    // Built from their deps (what createUsersService/createAuditService do) so their databases are reachable.
    const usersDeps: UsersDeps = await createUsersDeps(serviceConfig, shared, { jwks });
    closers.push(() => usersDeps.close());
    const usersApp = await buildUsersApp(usersDeps);
    closers.push(() => usersApp.close());
    await usersDeps.start();
    const users: ServiceHandle<UsersDeps> = { app: usersApp, url: await listen(usersApp), deps: usersDeps, close: usersDeps.close };

    const auditDeps: AuditDeps = await createAuditDeps(serviceConfig, shared, { jwks });
    closers.push(() => auditDeps.close());
    const auditApp = await buildAuditApp(auditDeps);
    closers.push(() => auditApp.close());
    await auditDeps.start();
    const audit: ServiceHandle<AuditDeps> = { app: auditApp, url: await listen(auditApp), deps: auditDeps, close: auditDeps.close };

    const gateway: RunningService = await createGatewayService({ ...config, serviceUrls: { auth: auth.url, users: users.url, audit: audit.url } }, shared, {
      jwks,
      rateLimitNamespace: `${prefix}:rl:`,
    });
    closers.push(async () => {
      await gateway.app.close();
      await gateway.close();
    });
    const url = await listen(gateway.app);

    /** Sends a request to `base` (the gateway unless told) and reads the answer. */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
    async function send<T = any>(base: string, method: string, p: string, o: RequestOptions = {}): Promise<Reply<T>> {
      const headers: Record<string, string> = { ...o.headers };
      if (o.host) headers.host = o.host;
      else if (o.tenant) headers.host = `${o.tenant}.${BASE_DOMAIN}`;
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let body: string | Buffer | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' || Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await undiciRequest(`${base}${p}`, { method: method as 'GET', headers, body, dispatcher: agent });
      const text = await res.body.text();
      const type = String(res.headers['content-type'] ?? '');
      const parsed = /^application\/(problem\+)?json/.test(type) && text ? (JSON.parse(text) as T) : (text as T);
      return { status: res.statusCode, headers: res.headers, body: parsed, text };
    }

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
    const request = <T = any>(method: string, p: string, o?: RequestOptions) => send<T>(o?.base ?? url, method, p, o);

    async function register(o: { tenant?: string; email?: string; password?: string; username?: string } = {}): Promise<Account> {
      const email = o.email ?? uniqueEmail();
      const password = o.password ?? PASSWORD;
      const r = await request('POST', '/api/v1/auth/register', { tenant: o.tenant, body: { email, password, username: o.username } });
      if (r.status !== 201) throw new Error(`register ${email} on ${o.tenant ?? 'default'}: ${r.status} ${r.text}`);
      return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken, tenant: o.tenant };
    }

    async function login(email: string, password: string, o: { tenant?: string } = {}): Promise<Account> {
      const r = await request('POST', '/api/v1/auth/login', { tenant: o.tenant, body: { email, password } });
      if (r.status !== 200 || !r.body.accessToken) throw new Error(`login ${email} on ${o.tenant ?? 'default'}: ${r.status} ${r.text}`);
      return { id: r.body.user.id, email, password, accessToken: r.body.accessToken, refreshToken: r.body.refreshToken, tenant: o.tenant };
    }

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
      /** the gateway's base URL */
      url,
      /** `127.0.0.1:<port>` of the gateway, for Host headers of requests to the deployment itself */
      address: new URL(url).host,
      baseDomain: BASE_DOMAIN,
      config,
      shared,
      prefix,
      superadmin,
      services: { auth, users, audit, gateway: { app: gateway.app, url } },
      /** each service's database handle: `withTenant` runs as the application role under RLS */
      databases: { auth: auth.deps.db, users: users.deps.db, audit: audit.deps.db },
      request,
      /** A request straight to one service, bypassing the gateway (as a compromised or misrouted caller would). */
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- suites read arbitrary fields of JSON answers
      direct: <T = any>(service: 'auth' | 'users' | 'audit', method: string, p: string, o?: RequestOptions) =>
        send<T>({ auth: auth.url, users: users.url, audit: audit.url }[service], method, p, o),
      register,
      login,
      superadminToken,
      createTenant,
      /** Stops everything and removes what the harness created. */
      close: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}
export type Harness = Awaited<ReturnType<typeof startHarness>>;
