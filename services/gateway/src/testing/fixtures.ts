/**
 * Test fixtures for the gateway (test-only: importing this from production code is a
 * mistake). Small real upstream Fastify apps on loopback port 0 stand in for our services:
 * an "auth" that resolves tenants from a table, serves a JWKS made with jose and echoes
 * forwarded requests, and echo upstreams for users and audit. Shared deps use real Redis and
 * NATS when the run has them (unique key and subject prefixes, so files run in parallel).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createHttpApp, loadConfig, type Config, type SharedDeps } from '@gatehouse/platform';
import { createTestShared, testLogger, type TestShared } from '@gatehouse/platform/testing';
import { startService } from '@gatehouse/platform/service';
import { gatewayService, type GatewayOptions } from '../service';

/** A tenant row as the fake auth's resolve endpoint answers it. */
export interface FakeTenant {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  settings: Record<string, unknown>;
}

/** Test data: a tenant with a fresh id. */
export function makeTenant(slug: string, over: Partial<FakeTenant> = {}): FakeTenant {
  return { id: randomUUID(), slug, name: `Tenant ${slug}`, status: 'active', settings: {}, ...over };
}

/** What an echo upstream answers: the request as it arrived there. */
export interface Echo {
  service: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Registers a catch-all route that answers with the request as received. */
function echoAll(app: FastifyInstance, service: string) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) => done(null, body));
  app.all('/*', async (req, reply) => {
    // Lets a test make the upstream answer with headers of its choosing.
    const set = req.headers['x-test-respond-headers'];
    if (typeof set === 'string') reply.headers(JSON.parse(set) as Record<string, string>);
    return { service, method: req.method, url: req.url, headers: req.headers, body: (req.body as string | undefined) ?? '' } satisfies Echo;
  });
}

/** An upstream that echoes every request, with an /openapi.json of its own. */
export async function startEchoUpstream(service: string, openapi?: Record<string, unknown>) {
  const app = Fastify();
  app.get('/openapi.json', async () => openapi ?? { openapi: '3.1.0', info: { title: service, version: '1' }, paths: {} });
  app.get('/healthz', async () => ({ status: 'ok' }));
  echoAll(app, service);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, close: () => app.close() };
}

/**
 * An echo upstream built like the real services (the platform's createHttpApp: their server
 * limits and error answers), for tests of what the gateway lets through to a service.
 */
export async function startPlatformUpstream(service: string) {
  const app = await createHttpApp({ name: service, logger: testLogger, operations: false });
  echoAll(app as unknown as FastifyInstance, service);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, close: () => app.close() };
}

/**
 * A stand-in for the auth service: tenant resolution from `tenants`, a JWKS with one RS256
 * key (`kid`), token minting with that key, and echo for everything under /api/v1.
 */
export async function startFakeAuth(opts: { tenants: FakeTenant[]; issuer: string; audience: string; openapi?: Record<string, unknown> }) {
  const tenants = new Map(opts.tenants.map((t) => [t.slug, t]));
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `k-${randomBytes(4).toString('hex')}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const counters = { resolve: 0, jwks: 0 };
  let down = false;

  const app = Fastify();
  app.addHook('onRequest', async (_req, reply) => {
    if (down) return reply.code(503).send({ error: 'down' });
  });
  app.get('/internal/tenants/resolve', async (req, reply) => {
    counters.resolve += 1;
    const slug = (req.query as { slug?: string }).slug ?? '';
    const t = tenants.get(slug);
    if (!t) return reply.code(404).type('application/problem+json').send({ code: 'tenant_not_found' });
    return t;
  });
  app.get('/.well-known/jwks.json', async () => {
    counters.jwks += 1;
    return { keys: [jwk] };
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/openapi.json', async () => opts.openapi ?? { openapi: '3.1.0', info: { title: 'auth', version: '1' }, paths: {} });
  echoAll(app, 'auth');
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  return {
    app,
    url,
    kid,
    privateKey,
    publicKey,
    jwk,
    counters,
    tenants,
    /** Makes the fake answer 503 to everything (auth outage). */
    setDown(value: boolean) {
      down = value;
    },
    /** A valid access token for `tenant` unless `over` changes claims or the header. */
    async mint(
      tenant: { id: string },
      over: { claims?: Record<string, unknown>; header?: Record<string, unknown>; expiresIn?: number | string; notBefore?: number | string } = {},
    ): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({
        tid: tenant.id,
        sid: randomUUID(),
        roles: ['user'],
        amr: ['pwd'],
        jti: randomUUID(),
        ...over.claims,
      })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid, ...over.header } as { alg: string })
        .setSubject((over.claims?.sub as string | undefined) ?? randomUUID())
        .setIssuer((over.claims?.iss as string | undefined) ?? opts.issuer)
        .setAudience((over.claims?.aud as string | undefined) ?? opts.audience)
        .setIssuedAt((over.claims?.iat as number | undefined) ?? now)
        .setExpirationTime(over.expiresIn ?? '15m');
      if (over.notBefore !== undefined) jwt.setNotBefore(over.notBefore);
      return jwt.sign(privateKey);
    },
    close: () => app.close(),
  };
}
export type FakeAuth = Awaited<ReturnType<typeof startFakeAuth>>;

/** Shared deps on the test run's servers with names of their own (platform `createTestShared`). */
export const createTestSharedDeps = (opts: { prefix?: string } = {}): Promise<TestShared> => createTestShared({ prefix: opts.prefix ?? `ghgw${randomBytes(5).toString('hex')}` });

/** Closes shared deps made by {@link createTestSharedDeps}, removing the NATS stream it made. */
export const closeTestSharedDeps = (d: TestShared): Promise<void> => d.close();

export const ISSUER = 'http://gatehouse.test';
export const AUDIENCE = 'gatehouse';

/** Config from an environment with test defaults (issuer, audience, generous limits). */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    TOKEN_ISSUER: ISSUER,
    TOKEN_AUDIENCE: AUDIENCE,
    RATE_LIMIT_IP_MAX: '10000',
    RATE_LIMIT_USER_MAX: '10000',
    RATE_LIMIT_CREDENTIALS_MAX: '10000',
    ...env,
  });
}

/**
 * A running gateway in front of a fake auth and echo upstreams for users and audit.
 * `env` overrides configuration (AUTH_URL etc. are filled in unless given as '').
 */
export async function startStack(
  opts: {
    tenants?: FakeTenant[];
    env?: Record<string, string | undefined>;
    options?: GatewayOptions;
    listen?: boolean;
    shared?: SharedDeps & { prefix: string };
    /** each upstream's /openapi.json */
    openapi?: Partial<Record<'auth' | 'users' | 'audit', Record<string, unknown>>>;
  } = {},
) {
  const tenants = opts.tenants ?? [makeTenant('default'), makeTenant('acme'), makeTenant('globex')];
  const auth = await startFakeAuth({ tenants, issuer: ISSUER, audience: AUDIENCE, openapi: opts.openapi?.auth });
  const users = await startEchoUpstream('users', opts.openapi?.users);
  const audit = await startEchoUpstream('audit', opts.openapi?.audit);
  const ownShared = opts.shared ? undefined : await createTestSharedDeps();
  const shared = opts.shared ?? ownShared!;
  const config = testConfig({ AUTH_URL: auth.url, USERS_URL: users.url, AUDIT_URL: audit.url, ...opts.env });
  const gateway = await startService(gatewayService, config, shared, {
    rateLimitNamespace: `${shared.prefix}:rl:`,
    upstreamTimeouts: { connectMs: 1000, headersMs: 2000, bodyMs: 2000 },
    ...opts.options,
  });
  const url = opts.listen ? await gateway.app.listen({ host: '127.0.0.1', port: 0 }) : undefined;
  const tenant = (slug: string) => {
    const t = auth.tenants.get(slug);
    if (!t) throw new Error(`no test tenant ${slug}`);
    return t;
  };
  return {
    app: gateway.app,
    url,
    auth,
    users,
    audit,
    shared,
    config,
    tenant,
    async close() {
      await gateway.close();
      await Promise.all([auth.close(), users.close(), audit.close()]);
      await ownShared?.close();
    },
  };
}
export type Stack = Awaited<ReturnType<typeof startStack>>;

/** One HTTP/1.1 answer read off a raw socket. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A raw keep-alive connection to `url` (tests of what fetch and inject hide: trickled bodies,
 * several requests on one connection, malformed requests). `next()` reads the next answer,
 * or `'closed'` when the server closes the connection first; it gives up after `waitMs`
 * (`'timeout'`), so no test hangs.
 */
export async function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  let ended = false;
  let error: Error | undefined;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', (err) => {
    error = err;
    ended = true;
    wake();
  });

  /** An answer parsed from the front of the buffer (Content-Length or chunked), or undefined. */
  function take(): RawAnswer | undefined {
    const headEnd = buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const [statusLine = '', ...lines] = buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    let rest = buffered.subarray(headEnd + 4);
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return undefined;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return undefined;
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
      buffered = rest;
      return { status, headers, body: Buffer.concat(parts).toString('utf8') };
    }
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < length) return undefined;
    buffered = rest.subarray(length);
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }

  return {
    socket,
    /** writes, resolving once the bytes are handed to the kernel (false: the socket is gone) */
    write(data: string | Buffer): Promise<boolean> {
      if (socket.destroyed || !socket.writable) return Promise.resolve(false);
      return new Promise((resolve) => socket.write(data, (err) => resolve(!err)));
    },
    /** the next answer, `'closed'` if the connection ends first, `'timeout'` after waitMs */
    async next(waitMs = 10_000): Promise<RawAnswer | 'closed' | 'timeout'> {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const answer = take();
        if (answer) return answer;
        // a reset or a write to a closed socket (EPIPE) ends the connection like a close
        if (ended) return error && !['ECONNRESET', 'EPIPE'].includes(String((error as NodeJS.ErrnoException).code)) ? Promise.reject(error) : 'closed';
        const left = deadline - Date.now();
        if (left <= 0) return 'timeout';
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, left);
          waiters.add(done);
        });
      }
    },
    /** whether the connection was reset by the server (not a clean close) */
    get reset() {
      return (error as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';
    },
    close() {
      socket.destroy();
    },
  };
}
export type RawConnection = Awaited<ReturnType<typeof rawConnection>>;

/**
 * Asserts that what a {@link RawConnection} read (or a raw request answered) is an RFC 9457
 * problem+json response with `status` and the error `code`.
 */
export function assertRawProblem(answer: RawAnswer | 'closed' | 'timeout', status: number, code: string, context = ''): asserts answer is RawAnswer {
  assert.ok(typeof answer === 'object', `${context}${String(answer)}`);
  assert.equal(answer.status, status, `${context}${answer.status} ${answer.body.slice(0, 200)}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/);
  assert.equal(JSON.parse(answer.body).code, code);
}
