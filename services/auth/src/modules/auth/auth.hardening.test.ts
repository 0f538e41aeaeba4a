/**
 * Regression tests of issue 9 (hardening) at the auth service:
 * - defect 6: NUL and lone surrogates in any string (values, keys, query) are a 400
 *   `validation_failed`, never a 500 from PostgreSQL refusing 0x00;
 * - defect 8: the refresh cookie is refused (403 `origin_not_allowed`) from another site, a
 *   sibling tenant's origin and `Origin: null`, and accepted from the tenant's own origin,
 *   its allowed origins and PUBLIC_URL.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GOOD_PASSWORD, startAuth, uniqueEmail, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth({ BASE_DOMAIN: 'gatehouse.test' });
});
after(async () => {
  await h.close();
});

const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00x';

/** Every string field of these bodies gets each bad string in turn; the rest stays valid. */
const BODIES: Array<[string, Record<string, string>]> = [
  ['/api/v1/auth/login', { email: 'ada@example.test', password: 'x' }],
  ['/api/v1/auth/login', { username: 'ada', password: 'x' }],
  ['/api/v1/auth/register', { email: 'ada@example.test', password: GOOD_PASSWORD, username: 'ada_1', displayName: 'Ada' }],
  ['/api/v1/auth/refresh', { refreshToken: 'x'.repeat(43) }],
  ['/api/v1/auth/password/forgot', { email: 'ada@example.test' }],
  ['/api/v1/auth/password/reset', { token: 'x'.repeat(43), newPassword: GOOD_PASSWORD }],
  ['/api/v1/auth/email/verify', { token: 'x'.repeat(43) }],
  ['/api/v1/auth/login/mfa', { mfaToken: 'x'.repeat(43), code: '123456' }],
];

function assertRefused(res: { statusCode: number; json(): unknown }, what: string) {
  assert.equal(res.statusCode, 400, what);
  const body = res.json() as { code: string; errors?: Array<{ path: string }> };
  assert.equal(body.code, 'validation_failed', what);
  assert.ok(body.errors?.length, `${what}: names the field`);
}

describe('NUL and lone surrogates (defect 6)', () => {
  test('the reported body {"email":"\\u0000x","password":"x"} (and username): 400 validation_failed, not 500', async () => {
    for (const raw of ['{"email":"\\u0000x","password":"x"}', '{"username":"\\u0000x","password":"x"}']) {
      const res = await h.request('POST', '/api/v1/auth/login', { body: raw });
      assertRefused(res, raw);
      assert.equal(res.json().errors[0].path.startsWith('body.'), true);
    }
  });

  test('in every string field of login, register, refresh, recovery and MFA bodies: 400 validation_failed', async () => {
    for (const [url, valid] of BODIES) {
      for (const field of Object.keys(valid)) {
        for (const bad of [NUL, `a${NUL}b`, LONE_HIGH, LONE_LOW, `ok${LONE_HIGH}`]) {
          const body = { ...valid, [field]: `${valid[field]}${bad}` };
          const res = await h.request('POST', url, { body: JSON.stringify(body) });
          assertRefused(res, `${url} ${field} ${JSON.stringify(bad)}`);
          assert.equal(res.json().errors[0].path, `body.${field}`);
        }
      }
    }
  });

  test('in a key, in the query string and in nested values: 400 validation_failed', async () => {
    assertRefused(await h.request('POST', '/api/v1/auth/login', { body: `{"email":"a@b.test","password":"x","${'\\u0000'}":1}` }), 'NUL key');
    assertRefused(await h.request('POST', '/api/v1/auth/login', { body: `{"email":"a@b.test","password":"x","${'\\ud800'}":1}` }), 'surrogate key');
    assertRefused(await h.request('POST', '/api/v1/auth/login?mode=%00', { body: { email: 'a@b.test', password: 'x' } }), 'NUL in the query');
    const admin = await h.admin();
    assertRefused(await h.request('GET', '/api/v1/admin/users?query=a%00b', { token: admin.accessToken }), 'NUL in a search query');
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    assertRefused(await h.request('POST', '/api/v1/auth/login', { body: deep }), 'nesting 5000 deep');
  });

  test('ordinary Unicode still passes: emoji (surrogate pairs) and other scripts', async () => {
    const reg = await h.request('POST', '/api/v1/auth/register', { body: { email: uniqueEmail('uni'), password: `${GOOD_PASSWORD} 🔐`, displayName: 'Ада 👩‍💻' } });
    assert.equal(reg.statusCode, 201, reg.body);
    assert.equal(reg.json().user.displayName, 'Ада 👩‍💻');
  });
});

describe('refresh cookie and origins (defect 8)', () => {
  const ACME_HOST = 'acme.gatehouse.test';
  const ALLOWED = 'https://app.acme.example';
  let tenant: { id: string; slug: string };

  before(async () => {
    tenant = await h.createTenant('active', { allowedOrigins: [ALLOWED] });
  });

  /** A fresh cookie session in the tenant. */
  async function cookieSession(): Promise<{ cookie: string; accessToken: string }> {
    const reg = await h.request('POST', '/api/v1/auth/register', { tenant: tenant.id, query: { mode: 'cookie' }, body: { email: uniqueEmail('csrf'), password: GOOD_PASSWORD } });
    assert.equal(reg.statusCode, 201, reg.body);
    return { cookie: reg.cookies.find((c) => c.name === 'gatehouse_refresh')!.value, accessToken: reg.json().accessToken };
  }

  /** The request as the gateway forwards it for a browser on `origin` talking to the tenant's host. */
  const fromBrowser = (cookie: string, origin?: string, extra: Record<string, string> = {}) => ({
    tenant: tenant.id,
    cookies: { gatehouse_refresh: cookie },
    headers: { 'x-forwarded-host': ACME_HOST, 'x-forwarded-proto': 'https', ...(origin === undefined ? {} : { origin }), ...extra },
  });

  const REFUSED = ['http://evil.example', 'https://attacker.gatehouse.test', 'http://acme.gatehouse.test', 'null', 'https://acme.gatehouse.test.evil.example', 'https://app.acme.example.evil'];

  test('refresh and logout with the cookie from another site, a sibling tenant, another scheme or null: 403 origin_not_allowed, session intact', async () => {
    const s = await cookieSession();
    for (const origin of REFUSED) {
      for (const url of ['/api/v1/auth/refresh?mode=cookie', '/api/v1/auth/logout']) {
        const res = await h.request('POST', url, fromBrowser(s.cookie, origin));
        assert.equal(res.statusCode, 403, `${url} from ${origin}`);
        assert.equal(res.json().code, 'origin_not_allowed');
        assert.equal(res.cookies.length, 0, 'no cookie set or cleared');
      }
    }
    // a cross-site fetch without Origin is still told apart by Sec-Fetch-Site
    const noOrigin = await h.request('POST', '/api/v1/auth/refresh', fromBrowser(s.cookie, undefined, { 'sec-fetch-site': 'same-site' }));
    assert.equal(noOrigin.statusCode, 403);
    // nothing was used up: the session and its token still work
    assert.equal(await h.deps.verifier.verify(s.accessToken).then(() => 'valid', () => 'revoked'), 'valid');
    const ok = await h.request('POST', '/api/v1/auth/refresh', fromBrowser(s.cookie, `https://${ACME_HOST}`));
    assert.equal(ok.statusCode, 200, ok.body);
  });

  test('same origin, the tenant\'s allowed origin, PUBLIC_URL and a non-browser client (no Origin) may refresh; logout too', async () => {
    let s = await cookieSession();
    for (const origin of [`https://${ACME_HOST}`, ALLOWED, 'http://localhost:3000', undefined]) {
      const res = await h.request('POST', '/api/v1/auth/refresh', fromBrowser(s.cookie, origin, origin === undefined ? {} : { 'sec-fetch-site': 'same-origin' }));
      assert.equal(res.statusCode, 200, `${origin}: ${res.body}`);
      s = { cookie: res.cookies.find((c) => c.name === 'gatehouse_refresh')!.value, accessToken: res.json().accessToken };
    }
    const out = await h.request('POST', '/api/v1/auth/logout', fromBrowser(s.cookie, ALLOWED));
    assert.equal(out.statusCode, 204);
    assert.equal(await h.deps.verifier.verify(s.accessToken).then(() => 'valid', () => 'revoked'), 'revoked');
  });

  test('another tenant\'s allowed origin does not count for this tenant', async () => {
    const other = await h.createTenant('active', { allowedOrigins: ['https://other.example'] });
    assert.notEqual(other.id, tenant.id);
    const s = await cookieSession();
    const res = await h.request('POST', '/api/v1/auth/refresh', fromBrowser(s.cookie, 'https://other.example'));
    assert.equal(res.statusCode, 403);
  });

  test('a body token or a bearer token is not a cookie: no origin rule (they cannot ride along cross-site)', async () => {
    const reg = await h.register({ tenant: tenant.id });
    const res = await h.request('POST', '/api/v1/auth/refresh', { tenant: tenant.id, body: { refreshToken: reg.refreshToken }, headers: { origin: 'http://evil.example' } });
    assert.equal(res.statusCode, 200);
    const out = await h.request('POST', '/api/v1/auth/logout', { tenant: tenant.id, token: res.json().accessToken, headers: { origin: 'http://evil.example' } });
    assert.equal(out.statusCode, 204);
  });
});
