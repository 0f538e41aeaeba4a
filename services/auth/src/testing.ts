/**
 * Test harness for the auth service (test-only module): a real service from
 * `authService` (its contract) on a fresh test database, with shared deps on the test servers (real
 * PostgreSQL/Redis/NATS when TEST_* are set, else PGlite/memory/in-process), and small
 * request and data factories. Each harness uses its own client IP, so counters of parallel
 * test files never meet in a shared Redis.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { closeSharedDeps, createSharedDeps, startService, type SharedDeps } from '@gatehouse/platform/service';
import { createTestDatabase, testLogger, testServers } from '@gatehouse/platform/testing';
import { createUserAccount } from './operations';
import { authService } from './service';

/** A password that passes the policy. */
/**
 * Redirect URIs that differ from the registered `https://app.example.com/callback` (and the
 * loopback `http://localhost:5173/auth/done`) in the ways open-redirect attacks use: userinfo,
 * dot segments, extra path, ports, scheme, case, query, fragment, suffix hosts, encoding,
 * other loopback ports, other schemes, relative and unparseable. Social login and the OpenID
 * provider must refuse every one.
 */
export const REDIRECT_URI_VARIANTS: readonly string[] = [
    'https://app.example.com@evil.example/callback',
    'https://evil.example@app.example.com/callback',
    'https://app.example.com/callback/..;/evil',
    'https://app.example.com/callback/../callback',
    'https://app.example.com/callback/extra',
    'https://app.example.com/callbackx',
    'https://app.example.com:8443/callback',
    'https://app.example.com:443/callback',
    'http://app.example.com/callback',
    'https://APP.example.com/callback',
    'https://app.example.com/callback?next=evil',
    'https://app.example.com/callback#frag',
    'https://app.example.com.evil.example/callback',
    'https://app.example.com/%63allback',
    'http://localhost:5174/auth/done',
    'http://127.0.0.1:5173/auth/done',
    'javascript:alert(1)',
    '//app.example.com/callback',
    'not a url',
];

export const GOOD_PASSWORD = 'correct horse battery staple 7';

/** A client IP of its own, so failure counters in a shared Redis never carry over between runs. */
export function uniqueIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

/** A unique email for this run. */
export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}@example.test`;
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
  tenant?: string | null;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  cookies?: Record<string, string>;
  ip?: string;
}

export type Harness = Awaited<ReturnType<typeof startAuth>>;

/** Starts the auth service for one test file. `env` adds configuration (e.g. throttle limits). */
export async function startAuth(env: Record<string, string> = {}, opts: { shared?: (s: SharedDeps) => SharedDeps } = {}) {
  const testDb = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-auth-test-'));
  const config: Config = loadConfig({
    DATABASE_URL: testDb.url,
    DATA_DIR: dataDir,
    REDIS_URL: testServers.redisUrl,
    NATS_URL: testServers.natsUrl,
    GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
    PUBLIC_URL: 'http://localhost:3000',
    ...env,
  });
  const realShared: SharedDeps = await createSharedDeps(config, testLogger);
  const shared = opts.shared ? opts.shared(realShared) : realShared;
  const service = await startService(authService, config, shared);
  await service.app.ready();
  // a client IP of its own (the service trusts X-Forwarded-For from the gateway)
  const ip = uniqueIp();

  async function request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, o: RequestOptions = {}): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { 'x-forwarded-for': o.ip ?? ip, ...o.headers };
    if (o.tenant !== null) headers[TENANT_HEADER] = o.tenant ?? DEFAULT_TENANT_ID;
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    return service.app.inject({
      method,
      url,
      headers,
      query: o.query,
      cookies: o.cookies,
      ...(o.body === undefined ? {} : typeof o.body === 'string' ? { payload: o.body, headers: { ...headers, 'content-type': 'application/json' } } : { payload: o.body as object }),
    });
  }

  /** Registers a user and returns the token response plus the password. */
  async function register(o: { email?: string; password?: string; username?: string; tenant?: string } = {}) {
    const email = o.email ?? uniqueEmail();
    const password = o.password ?? GOOD_PASSWORD;
    const res = await request('POST', '/api/v1/auth/register', { body: { email, password, username: o.username }, tenant: o.tenant });
    if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
    const body = res.json();
    return { email, password, userId: body.user.id as string, accessToken: body.accessToken as string, refreshToken: body.refreshToken as string, body };
  }

  /** Creates an admin (or superadmin) directly and signs it in. */
  async function admin(roles: string[] = ['admin'], tenantId = DEFAULT_TENANT_ID) {
    const email = uniqueEmail('admin');
    const user = await createUserAccount(service.deps, { email, password: GOOD_PASSWORD, roles, tenantId });
    const res = await request('POST', '/api/v1/auth/login', { body: { email, password: GOOD_PASSWORD }, tenant: tenantId });
    if (res.statusCode !== 200) throw new Error(`admin login failed: ${res.statusCode} ${res.body}`);
    return { user, email, accessToken: res.json().accessToken as string };
  }

  /** Inserts a second tenant row directly (admin tenant management is another feature). */
  async function createTenant(status: 'active' | 'disabled' = 'active', settings: Record<string, unknown> = {}) {
    const id = crypto.randomUUID();
    const slug = `t-${randomBytes(4).toString('hex')}`;
    await service.deps.db.admin.insertInto('tenants').values({ id, slug, name: slug, status, settings: JSON.stringify(settings) }).execute();
    return { id, slug };
  }

  /** Outbox payloads (parsed), oldest first. */
  async function outbox() {
    const rows = await service.deps.db.admin.selectFrom('outbox').select(['payload', 'subject']).orderBy('created_at').execute();
    return rows.map((r) => ({
      subject: r.subject as string,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary event fields
      event: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, any>,
    }));
  }

  return {
    config,
    shared,
    service,
    deps: service.deps,
    app: service.app,
    ip,
    request,
    register,
    admin,
    createTenant,
    outbox,
    async close() {
      await service.close();
      await closeSharedDeps(realShared);
      await testDb.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Problem body without the per-request id, to compare two answers. */
export function problemShape(res: LightMyRequestResponse) {
  const { requestId: _id, ...rest } = res.json() as Record<string, unknown>;
  return { status: res.statusCode, body: rest };
}
