/**
 * @gatehouse/verify in a small Fastify app, a small Express app and a plain Node server,
 * against the running system (real gateway, auth, JWKS, Redis revocation feed): a valid
 * token passes with user, roles and permissions; no token, an expired one, one for another
 * audience, one of another tenant and a revoked one (within 1 s of logout) are refused with
 * 401 problem+json; a missing role is 403.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { decodeJwt } from 'jose';
import { testServers } from '@gatehouse/platform/testing';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../../../test/src/system';
import { createVerifier, protect, VerifyError, type Verifier } from './index.js';
import { expressVerify } from './express.js';
import { fastifyVerify } from './fastify.js';

type Tenant = Awaited<ReturnType<TestSystem['createTenant']>>;

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('verify: Fastify, Express and plain Node apps against the running system', { skip: !testServers.redisUrl && 'needs Redis (TEST_REDIS_URL): the revocation feed' }, () => {
  let s: TestSystem;
  let acme: Tenant;
  let other: Tenant;
  let verifier: Verifier;
  let billing: Verifier;
  const apps: Record<string, string> = {};
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    acme = await s.createTenant();
    other = await s.createTenant();
    const common = {
      issuer: s.config.tokens.issuer,
      jwksUrl: `${s.url}/.well-known/jwks.json`,
      revocation: { redisUrl: testServers.redisUrl!, keyPrefix: `${s.prefix}:` },
    };
    verifier = createVerifier({ ...common, tenant: acme.id });
    // a service expecting tokens minted for another audience
    billing = createVerifier({ ...common, tenant: acme.id, audience: 'billing' });
    closers.push(() => verifier.close(), () => billing.close());

    const f = Fastify();
    f.addHook('preHandler', fastifyVerify(verifier));
    f.get('/hello', async (req) => ({ user: req.gatehouse!.user, roles: req.gatehouse!.roles, permissions: req.gatehouse!.permissions }));
    f.get('/admin', { preHandler: fastifyVerify(verifier, { roles: ['admin'] }) }, async () => ({ ok: true }));
    await f.listen({ port: 0, host: '127.0.0.1' });
    apps.fastify = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    closers.push(() => f.close());

    const e = express();
    e.use(expressVerify(verifier));
    e.get('/hello', (req, res) => {
      res.json({ user: req.gatehouse!.user, roles: req.gatehouse!.roles, permissions: req.gatehouse!.permissions });
    });
    e.get('/admin', expressVerify(verifier, { roles: ['admin'] }), (_req, res) => {
      res.json({ ok: true });
    });
    const es = http.createServer(e);
    apps.express = await listen(es);
    closers.push(() => new Promise((r) => es.close(r)));

    const ns = http.createServer(
      protect(verifier, (req, res) => {
        const g = req.gatehouse;
        if (req.url === '/admin' && !g.hasRole('admin')) {
          res.writeHead(403, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ status: 403, code: 'forbidden' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: g.user, roles: g.roles, permissions: g.permissions }));
      }),
    );
    apps.node = await listen(ns);
    closers.push(() => new Promise((r) => ns.close(r)));

    const b = http.createServer(protect(billing, (_req, res) => res.end('billing')));
    apps.billing = await listen(b);
    closers.push(() => new Promise((r) => b.close(r)));
  });

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await s?.close();
  });

  const get = (base: string, path: string, token?: string) => fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  async function assertRefused(res: Response, status: number, detail?: RegExp) {
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const body = (await res.json()) as { code: string; status: number; detail: string };
    assert.equal(body.status, status);
    assert.equal(body.code, status === 401 ? 'invalid_token' : 'forbidden');
    if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    if (detail) assert.match(body.detail, detail);
  }

  test('a valid token passes: user, roles and permissions exposed', async () => {
    const member = await s.register({ tenant: acme.slug });
    for (const name of ['fastify', 'express', 'node']) {
      const res = await get(apps[name]!, '/hello', member.accessToken);
      assert.equal(res.status, 200, `${name}: ${res.status}`);
      const body = (await res.json()) as { user: { id: string; tenantId: string }; roles: string[]; permissions: string[] };
      assert.equal(body.user.id, member.id, name);
      assert.equal(body.user.tenantId, acme.id, name);
      assert.deepEqual(body.roles, ['user'], name);
      assert.ok(Array.isArray(body.permissions), name);
      // role checks: the member is not an admin, the tenant's admin is
      await assertRefused(await get(apps[name]!, '/admin', member.accessToken), 403);
      assert.equal((await get(apps[name]!, '/admin', acme.admin!.accessToken)).status, 200, name);
    }
  });

  test('no token, a malformed header, an expired token, another audience and another tenant are refused with 401', async () => {
    const member = await s.register({ tenant: acme.slug });
    // a token the deployment's own signing key issued, already expired (exp 60 s before now)
    const c = decodeJwt(member.accessToken) as { sub: string; tid: string; sid: string; roles: string[]; amr: string[] };
    const expired = (await s.auth.deps.keys.sign({ sub: c.sub, tid: c.tid, sid: c.sid, roles: c.roles, amr: c.amr }, -60)).token;
    assert.ok((decodeJwt(expired).exp ?? 0) * 1000 < Date.now());
    for (const name of ['fastify', 'express', 'node']) {
      const base = apps[name]!;
      await assertRefused(await get(base, '/hello'), 401, /required/);
      await assertRefused(await fetch(`${base}/hello`, { headers: { authorization: 'Basic abc' } }), 401, /Bearer/);
      await assertRefused(await get(base, '/hello', 'not.a.jwt'), 401);
      await assertRefused(await get(base, '/hello', expired), 401, /expired/);
      await assertRefused(await get(base, '/hello', other.admin!.accessToken), 401, /another tenant/);
    }
    // the same valid token at a service that expects another audience
    await assertRefused(await get(apps.billing!, '/hello', member.accessToken), 401, /audience/);
  });

  test('a revoked token (logout) is refused within 1 s by all three', async (t) => {
    const member = await s.register({ tenant: acme.slug });
    for (const name of ['fastify', 'express', 'node']) assert.equal((await get(apps[name]!, '/hello', member.accessToken)).status, 200);
    const out = await s.request('POST', '/api/v1/auth/logout', { tenant: acme.slug, token: member.accessToken, body: {} });
    assert.equal(out.status, 204, out.text);
    const t0 = Date.now();
    const refusedAt: Record<string, number> = {};
    while (Object.keys(refusedAt).length < 3 && Date.now() - t0 < 3000) {
      for (const name of ['fastify', 'express', 'node']) {
        if (refusedAt[name] !== undefined) continue;
        const res = await get(apps[name]!, '/hello', member.accessToken);
        if (res.status === 401) {
          await assertRefused(res, 401, /revoked/);
          refusedAt[name] = Date.now() - t0;
        } else await res.body?.cancel();
      }
      await sleep(20);
    }
    assert.deepEqual(Object.keys(refusedAt).sort(), ['express', 'fastify', 'node']);
    t.diagnostic(`refused after logout: ${JSON.stringify(refusedAt)} ms`);
    for (const [name, ms] of Object.entries(refusedAt)) assert.ok(ms < 1000, `${name} refused after ${ms} ms`);
    // another session of the same user is untouched
    const again = await s.login(member.email, member.password, { tenant: acme.slug });
    assert.equal((await get(apps.fastify!, '/hello', again.accessToken)).status, 200);
  });
});

describe('verify: without its revocation feed', () => {
  test('a valid-looking request is refused with 503 (never let through unchecked), and the next one tries again', async () => {
    const errors: unknown[] = [];
    // nothing listens on port 1: Redis is unreachable
    const v = createVerifier({ issuer: 'https://id.example.test', tenant: '*', revocation: { redisUrl: 'redis://127.0.0.1:1', startTimeoutMs: 300, onError: (e) => errors.push(e) } });
    try {
      for (let i = 0; i < 2; i++) {
        const err = await v.verify('a.b.c').catch((e: unknown) => e);
        assert.ok(err instanceof VerifyError);
        assert.equal(err.status, 503);
        assert.equal(err.code, 'service_unavailable');
      }
    } finally {
      await v.close();
    }
  });
});
