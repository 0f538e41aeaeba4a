/**
 * Tenant resolution at the gateway, black-box through real HTTP with `Host` headers: the
 * subdomain names the tenant; `www.`, `api.` and the bare base domain are the deployment
 * (default tenant); `X-Tenant` counts only on local hosts (TENANT_HEADER=localhost);
 * invalid, unknown and disabled tenants answer clear 4xx; a token only works on its own
 * tenant's host; the internal tenant headers cannot be forged by a client; CORS lets each
 * tenant's own origins in, and no other tenant's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { PASSWORD, BASE_DOMAIN, startTestSystem, uniqueEmail, uniqueSlug, type Account, type TestSystem } from '../system';

let h: TestSystem;
let acme: Awaited<ReturnType<TestSystem['createTenant']>>;
let globex: Awaited<ReturnType<TestSystem['createTenant']>>;
let ada: Account;
const acmeOrigin = 'https://app.acme.example';
const globexOrigin = 'https://app.globex.example';

/** The tenant a request was served as: the tenantId of an account it registers. */
async function servedAs(o: { host?: string; headers?: Record<string, string> }): Promise<{ status: number; tenantId?: string; code?: string }> {
  const r = await h.request('POST', '/api/v1/auth/register', { host: o.host, headers: o.headers, body: { email: uniqueEmail('res'), password: PASSWORD } });
  return { status: r.status, tenantId: r.body?.user?.tenantId, code: r.body?.code };
}

before(async () => {
  h = await startTestSystem({ baseDomain: BASE_DOMAIN });
  acme = await h.createTenant({ slug: uniqueSlug('acme'), settings: { allowedOrigins: [acmeOrigin] } });
  globex = await h.createTenant({ slug: uniqueSlug('globex'), settings: { allowedOrigins: [globexOrigin] } });
  ada = await h.register({ tenant: acme.slug });
});
after(async () => {
  await h?.close();
});

describe('resolution by Host', () => {
  test('<slug>.<BASE_DOMAIN> is that tenant, whatever the case, a trailing dot or a port', async () => {
    for (const host of [`${acme.slug}.gatehouse.test`, `${acme.slug.toUpperCase()}.GATEHOUSE.TEST`, `${acme.slug}.gatehouse.test.`, `${acme.slug}.gatehouse.test:443`]) {
      assert.deepEqual(await servedAs({ host }), { status: 201, tenantId: acme.id, code: undefined }, host);
    }
    assert.equal((await servedAs({ host: `${globex.slug}.gatehouse.test` })).tenantId, globex.id);
  });

  test('the deployment itself (bare base domain, www., api.) and other hosts are the default tenant', async () => {
    for (const host of ['gatehouse.test', 'www.gatehouse.test', 'api.gatehouse.test', h.address, 'elsewhere.example']) {
      assert.equal((await servedAs({ host })).tenantId, DEFAULT_TENANT_ID, host);
    }
  });

  test('unknown tenant: 404 tenant_not_found; not a DNS label: 400 invalid_tenant; deeper subdomains are not tenants', async () => {
    assert.deepEqual(await servedAs({ host: 'no-such-tenant.gatehouse.test' }), { status: 404, tenantId: undefined, code: 'tenant_not_found' });
    for (const host of ['bad_label.gatehouse.test', '-x.gatehouse.test', `${'a'.repeat(64)}.gatehouse.test`, `a.${acme.slug}.gatehouse.test`]) {
      const r = await servedAs({ host });
      assert.equal(r.status, 400, host);
      assert.equal(r.code, 'invalid_tenant', host);
    }
    const r = await h.request('GET', '/api/v1/auth/me', { host: 'no-such-tenant.gatehouse.test' });
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
  });

  test('a disabled tenant answers 404 tenant_not_found on its host, as an unknown one', async () => {
    const t = await h.createTenant({ withAdmin: false });
    assert.equal((await servedAs({ host: `${t.slug}.gatehouse.test` })).status, 201);
    const off = await h.request('PATCH', `/api/v1/admin/tenants/${t.id}`, { token: await h.superadminToken(), body: { status: 'disabled' } });
    assert.equal(off.status, 200);
    const r = await servedAs({ host: `${t.slug}.gatehouse.test` });
    assert.deepEqual(r, { status: 404, tenantId: undefined, code: 'tenant_not_found' });
  });
});

describe('X-Tenant header (TENANT_HEADER=localhost)', () => {
  test('honoured on a local host; ignored (not refused) elsewhere; invalid 400; unknown 404', async () => {
    assert.equal((await servedAs({ host: h.address, headers: { 'x-tenant': acme.slug } })).tenantId, acme.id);
    assert.equal((await servedAs({ host: 'localhost', headers: { 'x-tenant': globex.slug } })).tenantId, globex.id);
    // on the public domain the header is ignored: the deployment's default tenant
    assert.equal((await servedAs({ host: 'gatehouse.test', headers: { 'x-tenant': acme.slug } })).tenantId, DEFAULT_TENANT_ID);
    // the subdomain wins over the header
    assert.equal((await servedAs({ host: `${globex.slug}.gatehouse.test`, headers: { 'x-tenant': acme.slug } })).tenantId, globex.id);
    assert.deepEqual(await servedAs({ host: h.address, headers: { 'x-tenant': 'Not A Label!' } }), { status: 400, tenantId: undefined, code: 'invalid_tenant' });
    assert.deepEqual(await servedAs({ host: h.address, headers: { 'x-tenant': 'no-such-tenant' } }), { status: 404, tenantId: undefined, code: 'tenant_not_found' });
  });
});

describe('tokens and forged internal headers', () => {
  test("a token works on its tenant's host only: 401 invalid_token on another tenant's host, by Host or by X-Tenant", async () => {
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: acme.slug, token: ada.accessToken })).status, 200);
    for (const o of [{ tenant: globex.slug }, { host: 'gatehouse.test' }, { host: h.address, headers: { 'x-tenant': globex.slug } }]) {
      const r = await h.request('GET', '/api/v1/users/me', { ...o, token: ada.accessToken });
      assert.equal(r.status, 401, JSON.stringify(o));
      assert.equal(r.body.code, 'invalid_token');
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
  });

  test('x-gatehouse-tenant and x-gatehouse-tenant-slug from a client are replaced by the resolved tenant: they cannot move a request', async () => {
    const forged = { 'x-gatehouse-tenant': globex.id, 'x-gatehouse-tenant-slug': globex.slug };
    // without a token: the account lands in the host's tenant, not the forged one
    assert.equal((await servedAs({ host: `${acme.slug}.gatehouse.test`, headers: forged })).tenantId, acme.id);
    assert.equal((await servedAs({ host: 'gatehouse.test', headers: forged })).tenantId, DEFAULT_TENANT_ID);
    // with acme's token on acme's host: still acme's data
    const me = await h.request('GET', '/api/v1/auth/me', { tenant: acme.slug, token: ada.accessToken, headers: forged });
    assert.equal(me.status, 200);
    assert.equal(me.body.tenantId, acme.id);
    // acme's token on globex's host, claiming acme in the internal header: 401
    const r = await h.request('GET', '/api/v1/auth/me', { tenant: globex.slug, token: ada.accessToken, headers: { 'x-gatehouse-tenant': acme.id } });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'invalid_token');
  });

  test('X-Forwarded-Host from a client is not believed without TRUST_PROXY', async () => {
    assert.equal((await servedAs({ host: `${acme.slug}.gatehouse.test`, headers: { 'x-forwarded-host': `${globex.slug}.gatehouse.test` } })).tenantId, acme.id);
  });

  test('/internal/* is not reachable through the gateway (404), whatever the host', async () => {
    for (const o of [{}, { tenant: acme.slug }]) {
      const r = await h.request('GET', `/internal/tenants/resolve?slug=${globex.slug}`, o);
      assert.equal(r.status, 404);
      assert.equal(r.body.code, 'not_found');
      assert.ok(!r.text.includes(globex.id));
    }
  });
});

describe("CORS: each tenant's own allowedOrigins", () => {
  const preflight = (tenant: string, origin: string) =>
    h.request('OPTIONS', '/api/v1/auth/me', {
      tenant,
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });

  test("a tenant's origin is allowed (with credentials) on its host, and refused on another tenant's host", async () => {
    const ok = await preflight(acme.slug, acmeOrigin);
    assert.equal(ok.status, 204, ok.text);
    assert.equal(ok.headers['access-control-allow-origin'], acmeOrigin);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const actual = await h.request('GET', '/api/v1/auth/me', { tenant: acme.slug, token: ada.accessToken, headers: { origin: acmeOrigin } });
    assert.equal(actual.headers['access-control-allow-origin'], acmeOrigin);
    for (const [tenant, origin] of [
      [globex.slug, acmeOrigin],
      [acme.slug, globexOrigin],
      [acme.slug, 'https://evil.example'],
    ] as const) {
      const r = await preflight(tenant, origin);
      assert.equal(r.headers['access-control-allow-origin'], undefined, `${origin} on ${tenant}`);
    }
  });

  test('a settings change reaches the gateway at once (tenant.events.updated drops its cache)', async () => {
    const newOrigin = 'https://new.acme.example';
    assert.equal((await preflight(acme.slug, newOrigin)).headers['access-control-allow-origin'], undefined);
    const patch = await h.request('PATCH', `/api/v1/admin/tenants/${acme.id}`, {
      token: await h.superadminToken(),
      body: { settings: { allowedOrigins: [acmeOrigin, newOrigin] } },
    });
    assert.equal(patch.status, 200, patch.text);
    const t0 = Date.now();
    let allowed: unknown;
    while (Date.now() - t0 < 4000) {
      allowed = (await preflight(acme.slug, newOrigin)).headers['access-control-allow-origin'];
      if (allowed) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(allowed, newOrigin);
    // well before the cache's own 5 s lifetime would have ended
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });
});
