/**
 * Issue 9, defect 8, through the whole system: the refresh cookie of a tenant is honoured only
 * from that tenant's own origin and its allowed origins. Tenants are sibling subdomains
 * (`<slug>.gatehouse.test`), the same site for SameSite, so a page on another tenant's host
 * could otherwise refresh or log out a victim's session with the victim's cookie.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_DOMAIN, startTestSystem, uniqueEmail, PASSWORD, type TestSystem } from '../system';

let h: TestSystem;
let acme: Awaited<ReturnType<TestSystem['createTenant']>>;
let attacker: Awaited<ReturnType<TestSystem['createTenant']>>;
const APP_ORIGIN = 'https://app.acme-corp.example';

before(async () => {
  h = await startTestSystem({ baseDomain: BASE_DOMAIN });
  acme = await h.createTenant({ withAdmin: false, settings: { allowedOrigins: [APP_ORIGIN] } });
  attacker = await h.createTenant({ withAdmin: false });
});
after(async () => {
  await h?.close();
});

/** Signs up in acme in cookie mode; returns the Cookie header value. */
async function cookieSession(): Promise<string> {
  const r = await h.request('POST', '/api/v1/auth/register?mode=cookie', { tenant: acme.slug, body: { email: uniqueEmail('csrf'), password: PASSWORD } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.refreshToken, undefined);
  const set = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
  const cookie = set.find((c) => c.startsWith('gatehouse_refresh='));
  assert.ok(cookie, 'the refresh cookie is set');
  return cookie.split(';', 1)[0]!;
}

const acmeOrigin = () => `http://${acme.slug}.${BASE_DOMAIN}`;

test('cookie refresh and logout from another site, a sibling tenant or Origin null: 403 origin_not_allowed', async () => {
  const cookie = await cookieSession();
  const hostile = ['http://evil.example', `http://${attacker.slug}.${BASE_DOMAIN}`, `https://${acme.slug}.${BASE_DOMAIN}.evil.example`, 'null'];
  for (const origin of hostile) {
    for (const p of ['/api/v1/auth/refresh?mode=cookie', '/api/v1/auth/logout']) {
      const r = await h.request('POST', p, { tenant: acme.slug, headers: { cookie, origin } });
      assert.equal(r.status, 403, `${p} from ${origin}: ${r.text}`);
      assert.equal(r.body.code, 'origin_not_allowed');
      assert.equal(r.headers['set-cookie'], undefined, 'the cookie is neither rotated nor cleared');
    }
  }
  // the session survived every attempt
  const ok = await h.request('POST', '/api/v1/auth/refresh?mode=cookie', { tenant: acme.slug, headers: { cookie, origin: acmeOrigin() } });
  assert.equal(ok.status, 200, ok.text);
});

test('the tenant\'s own origin (same origin) and its allowed origin may refresh and log out with the cookie', async () => {
  let cookie = await cookieSession();
  for (const origin of [acmeOrigin(), APP_ORIGIN]) {
    const r = await h.request('POST', '/api/v1/auth/refresh?mode=cookie', { tenant: acme.slug, headers: { cookie, origin } });
    assert.equal(r.status, 200, `${origin}: ${r.text}`);
    assert.equal(r.body.refreshToken, undefined, 'cookie mode');
    cookie = ([] as string[]).concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith('gatehouse_refresh='))!.split(';', 1)[0]!;
  }
  const out = await h.request('POST', '/api/v1/auth/logout', { tenant: acme.slug, headers: { cookie, origin: acmeOrigin() } });
  assert.equal(out.status, 204, out.text);
  const again = await h.request('POST', '/api/v1/auth/refresh?mode=cookie', { tenant: acme.slug, headers: { cookie, origin: acmeOrigin() } });
  assert.equal(again.status, 401, 'logged out');
});

test('the attacker tenant\'s own allowed origins do not open acme\'s cookie', async () => {
  const r = await h.request('PATCH', `/api/v1/admin/tenants/${attacker.id}`, { token: await h.superadminToken(), body: { settings: { allowedOrigins: ['https://attacker-app.example'] } } });
  assert.ok(r.status === 200, r.text);
  const cookie = await cookieSession();
  const res = await h.request('POST', '/api/v1/auth/refresh?mode=cookie', { tenant: acme.slug, headers: { cookie, origin: 'https://attacker-app.example' } });
  assert.equal(res.status, 403);
});
