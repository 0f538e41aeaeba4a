import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent } from '@gatehouse/platform/events';
import { testLogger } from '@gatehouse/platform/testing';
import { makeTenant, startStack, type Echo, type Stack } from '../../testing/fixtures';
import { createTenancyService, normalizeHost } from './tenancy.service';

const get = (s: Stack, headers: Record<string, string>, url = '/api/v1/users/me') => s.app.inject({ method: 'GET', url, headers });

describe('tenancy: which tenant a request names', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      env: { BASE_DOMAIN: 'example.test' },
      tenants: [makeTenant('default'), makeTenant('acme'), makeTenant('globex'), makeTenant('initech', { status: 'disabled' })],
    });
  });
  after(async () => {
    await s.close();
  });

  test('host <slug>.<BASE_DOMAIN> selects the tenant (case, port and trailing dot ignored)', async () => {
    for (const host of ['acme.example.test', 'ACME.Example.Test:8443', 'acme.example.test.']) {
      const res = await get(s, { host });
      assert.equal(res.statusCode, 200, host);
      const h = res.json<Echo>().headers;
      assert.equal(h['x-gatehouse-tenant'], s.tenant('acme').id, host);
      assert.equal(h['x-gatehouse-tenant-slug'], 'acme', host);
    }
  });

  test('BASE_DOMAIN itself, www. and api. are the default tenant', async () => {
    for (const host of ['example.test', 'www.example.test', 'api.example.test']) {
      const res = await get(s, { host });
      assert.equal(res.json<Echo>().headers['x-gatehouse-tenant'], s.tenant('default').id, host);
    }
  });

  test('the host wins over X-Tenant', async () => {
    const res = await get(s, { host: 'acme.localhost', 'x-tenant': 'globex' });
    // acme.localhost is not under BASE_DOMAIN (example.test), so X-Tenant applies on it.
    assert.equal(res.json<Echo>().headers['x-gatehouse-tenant-slug'], 'globex');
    const sub = await get(s, { host: 'acme.example.test', 'x-tenant': 'globex' });
    assert.equal(sub.json<Echo>().headers['x-gatehouse-tenant-slug'], 'acme');
  });

  test('X-Tenant is honoured on localhost hosts only by default; elsewhere it is ignored', async () => {
    for (const host of ['localhost', 'localhost:3000', '127.0.0.1:3000', '[::1]:3000', 'app.localhost']) {
      const res = await get(s, { host, 'x-tenant': 'acme' });
      assert.equal(res.json<Echo>().headers['x-gatehouse-tenant-slug'], 'acme', host);
    }
    for (const host of ['gatehouse.example.com', 'example.test', '10.0.0.1']) {
      const res = await get(s, { host, 'x-tenant': 'acme' });
      assert.equal(res.json<Echo>().headers['x-gatehouse-tenant-slug'], 'default', host);
    }
  });

  test('an invalid slug is 400 invalid_tenant', async () => {
    const cases: Record<string, string>[] = [
      { host: '-acme.example.test' },
      { host: 'ac_me.example.test' },
      { host: 'a.b.example.test' },
      { host: `${'a'.repeat(64)}.example.test` },
      { host: 'localhost', 'x-tenant': 'Not A Slug' },
      { host: 'localhost', 'x-tenant': '../admin' },
      { host: 'localhost', 'x-tenant': 'acme-' },
      { host: 'localhost', 'x-tenant': '' },
    ];
    for (const headers of cases) {
      const res = await get(s, headers);
      assert.equal(res.statusCode, 400, JSON.stringify(headers));
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().code, 'invalid_tenant', JSON.stringify(headers));
    }
  });

  test('unknown or disabled tenant is 404 tenant_not_found', async () => {
    for (const host of ['nosuch.example.test', 'initech.example.test']) {
      const res = await get(s, { host });
      assert.equal(res.statusCode, 404, host);
      assert.equal(res.json().code, 'tenant_not_found', host);
    }
  });

  test('a token of tenant A on tenant B is 401 invalid_token', async () => {
    const token = await s.auth.mint(s.tenant('acme'));
    const own = await get(s, { host: 'acme.example.test', authorization: `Bearer ${token}` });
    assert.equal(own.statusCode, 200);
    const cases: Record<string, string>[] = [{ host: 'globex.example.test' }, { host: 'localhost', 'x-tenant': 'globex' }, { host: 'example.test' }];
    for (const headers of cases) {
      const res = await get(s, { ...headers, authorization: `Bearer ${token}` });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json().code, 'invalid_token');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
  });

  test('a spoofed x-gatehouse-tenant from a client is replaced by the resolved one', async () => {
    const res = await get(s, { host: 'acme.example.test', 'x-gatehouse-tenant': s.tenant('globex').id, 'X-Gatehouse-Tenant-Slug': 'globex' });
    const h = res.json<Echo>().headers;
    assert.equal(h['x-gatehouse-tenant'], s.tenant('acme').id);
    assert.equal(h['x-gatehouse-tenant-slug'], 'acme');
  });
});

describe('tenancy: header modes', () => {
  test('TENANT_HEADER=always honours X-Tenant on any host; never ignores it even on localhost', async () => {
    const always = await startStack({ env: { BASE_DOMAIN: 'example.test', TENANT_HEADER: 'always' } });
    const never = await startStack({ env: { BASE_DOMAIN: 'example.test', TENANT_HEADER: 'never' } });
    try {
      const a = await get(always, { host: 'gatehouse.example.com', 'x-tenant': 'acme' });
      assert.equal(a.json<Echo>().headers['x-gatehouse-tenant-slug'], 'acme');
      const n = await get(never, { host: 'localhost', 'x-tenant': 'acme' });
      assert.equal(n.json<Echo>().headers['x-gatehouse-tenant-slug'], 'default');
    } finally {
      await always.close();
      await never.close();
    }
  });
});

describe('tenancy: cache and invalidation', () => {
  let s: Stack;
  before(async () => {
    // A long TTL, so only the event can explain a change seen within a second.
    s = await startStack({ env: { BASE_DOMAIN: 'example.test' }, options: { tenantCache: { ttlMs: 60_000, negativeTtlMs: 60_000 } } });
  });
  after(async () => {
    await s.close();
  });

  test('lookups are cached, negative ones too', async () => {
    const before = s.auth.counters.resolve;
    for (let i = 0; i < 5; i++) await get(s, { host: 'acme.example.test' });
    for (let i = 0; i < 5; i++) await get(s, { host: 'unknown1.example.test' });
    assert.equal(s.auth.counters.resolve - before, 2);
  });

  test('concurrent first requests for one slug make one lookup', async () => {
    s.auth.tenants.set('hooli', makeTenant('hooli'));
    const before = s.auth.counters.resolve;
    const all = await Promise.all(Array.from({ length: 20 }, () => get(s, { host: 'hooli.example.test' })));
    assert.ok(all.every((r) => r.statusCode === 200));
    assert.equal(s.auth.counters.resolve - before, 1);
  });

  test('a tenant.events.* event clears the cache at once: a disabled tenant is 404 within 1 s', async () => {
    const acme = s.tenant('acme');
    assert.equal((await get(s, { host: 'acme.example.test' })).statusCode, 200);
    s.auth.tenants.set('acme', { ...acme, status: 'disabled' });
    // Still cached: without the event nothing changes for a minute.
    assert.equal((await get(s, { host: 'acme.example.test' })).statusCode, 200);
    const t0 = Date.now();
    await s.shared.transport.publish(
      makeEvent({ source: 'auth', type: 'tenant.events.updated', tenantId: acme.id, data: { id: acme.id, slug: 'acme', name: acme.name, status: 'disabled', action: 'updated' } }),
    );
    let status = 200;
    while (Date.now() - t0 < 3000) {
      status = (await get(s, { host: 'acme.example.test' })).statusCode;
      if (status === 404) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 404);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  test('a created tenant is found at once after its event, despite the negative cache', async () => {
    assert.equal((await get(s, { host: 'newco.example.test' })).statusCode, 404);
    const newco = makeTenant('newco');
    s.auth.tenants.set('newco', newco);
    await s.shared.transport.publish(
      makeEvent({ source: 'auth', type: 'tenant.events.created', tenantId: newco.id, data: { id: newco.id, slug: 'newco', name: newco.name, status: 'active', action: 'created' } }),
    );
    const t0 = Date.now();
    let status = 404;
    while (Date.now() - t0 < 3000 && status !== 200) {
      status = (await get(s, { host: 'newco.example.test' })).statusCode;
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 200);
  });
});

describe('tenancy: auth outage', () => {
  test('a cached tenant is still served while auth is down; an unknown one is 503, not 500', async () => {
    const s = await startStack({ env: { BASE_DOMAIN: 'example.test' }, options: { tenantCache: { ttlMs: 1, staleMs: 60_000 } } });
    try {
      assert.equal((await get(s, { host: 'acme.example.test' })).statusCode, 200);
      s.auth.setDown(true);
      await new Promise((r) => setTimeout(r, 5));
      // The upstream (fake auth) is down too, so ask users: only the lookup fails.
      const cached = await get(s, { host: 'acme.example.test' });
      assert.equal(cached.statusCode, 200);
      assert.equal(cached.json<Echo>().headers['x-gatehouse-tenant-slug'], 'acme');
      const unknown = await get(s, { host: 'globex.example.test' });
      assert.equal(unknown.statusCode, 503);
      assert.equal(unknown.json().code, 'service_unavailable');
      assert.equal(unknown.headers['retry-after'], '5');
    } finally {
      await s.close();
    }
  });
});

describe('tenancy: unit', () => {
  test('normalizeHost', () => {
    assert.equal(normalizeHost('Acme.Example.TEST:443'), 'acme.example.test');
    assert.equal(normalizeHost('[::1]:3000'), '[::1]');
    assert.equal(normalizeHost('x.test.'), 'x.test');
    assert.equal(normalizeHost(undefined), '');
  });

  test('slugFor without a base-domain match falls back to the default tenant', () => {
    const t = createTenancyService({ baseDomain: 'example.test', headerMode: 'localhost', logger: testLogger });
    assert.equal(t.slugFor('other.test', undefined), 'default');
    assert.equal(t.slugFor('shop.example.test', undefined), 'shop');
    assert.throws(() => t.slugFor('localhost', ['a', 'b']), /DNS label/);
  });
});
