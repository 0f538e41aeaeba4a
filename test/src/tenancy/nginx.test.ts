/**
 * Subdomain tenant resolution through nginx in front of the gateway, with the site shipped in
 * deploy/nginx/gatehouse.conf (only addresses, ports and certificate paths changed, see
 * test/src/deploy/nginx-site.ts): nginx
 * passes `Host` and sets `X-Forwarded-*`, the gateway trusts it (TRUST_PROXY=127.0.0.1) and
 * resolves the tenant from the host the client asked for. nginx runs as a child process of
 * this test (`daemon off`, its own prefix, pid and logs in a temporary directory) on a free
 * loopback port. Skipped, saying why, only when /usr/sbin/nginx is not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { nginxMissing, startNginx, type RunningNginx } from '../deploy/nginx-site';
import { PASSWORD, BASE_DOMAIN, startTestSystem, uniqueEmail, uniqueSlug, type Account, type TestSystem } from '../system';

/** The shipped site, served over plain HTTP on its HTTPS server block (TLS is tested in test/src/deploy/nginx.test.ts). */
const startSite = (gatewayPort: number) => startNginx({ upstreams: { gateway: [gatewayPort] }, tls: false });

describe('tenant resolution through nginx in front of the gateway', { skip: nginxMissing }, () => {
  let h: TestSystem;
  let nginx: RunningNginx;
  let acme: Awaited<ReturnType<TestSystem['createTenant']>>;
  let globex: Awaited<ReturnType<TestSystem['createTenant']>>;
  let ada: Account;

  /** Through nginx: the tenant an account registered with these headers lands in. */
  async function servedAs(host: string, headers: Record<string, string> = {}) {
    const r = await h.request('POST', '/api/v1/auth/register', { base: nginx.siteUrl, host, headers, body: { email: uniqueEmail('nginx'), password: PASSWORD } });
    return { status: r.status, tenantId: r.body?.user?.tenantId as string | undefined, code: r.body?.code as string | undefined };
  }

  before(async () => {
    h = await startTestSystem({ baseDomain: BASE_DOMAIN, env: { TRUST_PROXY: '127.0.0.1' } });
    nginx = await startSite(Number(new URL(h.url).port));
    acme = await h.createTenant({ slug: uniqueSlug('acme'), withAdmin: false });
    globex = await h.createTenant({ slug: uniqueSlug('globex'), withAdmin: false });
    ada = await h.register({ tenant: acme.slug });
  });
  after(async () => {
    await nginx?.stop();
    await h?.close();
  });

  test('Host <slug>.<BASE_DOMAIN> through nginx is that tenant; the bare domain is the default tenant', async () => {
    assert.deepEqual(await servedAs(`${acme.slug}.gatehouse.test`), { status: 201, tenantId: acme.id, code: undefined });
    assert.equal((await servedAs(`${globex.slug}.gatehouse.test`)).tenantId, globex.id);
    assert.equal((await servedAs('gatehouse.test')).tenantId, DEFAULT_TENANT_ID);
    const me = await h.request('GET', '/api/v1/auth/me', { base: nginx.siteUrl, tenant: acme.slug, token: ada.accessToken });
    assert.equal(me.status, 200);
    assert.equal(me.body.tenantId, acme.id);
  });

  test('a client cannot pick the tenant with X-Forwarded-Host: nginx sets it from the Host it served', async () => {
    assert.equal((await servedAs(`${acme.slug}.gatehouse.test`, { 'x-forwarded-host': `${globex.slug}.gatehouse.test` })).tenantId, acme.id);
    assert.equal((await servedAs('gatehouse.test', { 'x-forwarded-host': `${globex.slug}.gatehouse.test`, 'x-gatehouse-tenant': globex.id })).tenantId, DEFAULT_TENANT_ID);
  });

  test('unknown and invalid tenants, and a token on the wrong host, answer clear problems through nginx', async () => {
    assert.deepEqual(await servedAs('nope-nope.gatehouse.test'), { status: 404, tenantId: undefined, code: 'tenant_not_found' });
    assert.deepEqual(await servedAs('bad_label.gatehouse.test'), { status: 400, tenantId: undefined, code: 'invalid_tenant' });
    const r = await h.request('GET', '/api/v1/auth/me', { base: nginx.siteUrl, tenant: globex.slug, token: ada.accessToken });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'invalid_token');
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  });
});
