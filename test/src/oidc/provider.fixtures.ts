/**
 * The set-up shared by the OpenID provider suites (provider.clients.test.ts and
 * provider.code.test.ts; test-only module): a test system with two tenants A and B, and on A an
 * API resource (AUD), a machine-to-machine application allowed to use it and a web application
 * redirecting to CALLBACK.
 */
import assert from 'node:assert/strict';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';

export const AUD = 'https://api.example.test/orders';
export const CALLBACK = 'https://app.example.test/callback';

export type Tenant = Awaited<ReturnType<TestSystem['createTenant']>>;
export interface Application {
  clientId: string;
  clientSecret: string;
  id: string;
}

export interface ProviderSuite {
  s: TestSystem;
  a: Tenant;
  b: Tenant;
  m2m: Application;
  web: Application;
}

/** Starts the system and makes the tenants, the resource and the two applications; closes the system if that fails. */
export async function startProviderSuite(): Promise<ProviderSuite> {
  const s = await startTestSystem({ baseDomain: BASE_DOMAIN });
  try {
    const [a, b] = await Promise.all([s.createTenant(), s.createTenant()]);
    const res = await s.request('POST', '/api/v1/admin/resources', {
      tenant: a.slug,
      token: a.admin!.accessToken,
      body: { name: 'Orders API', audience: AUD, scopes: [{ name: 'orders:read', description: 'read orders' }, { name: 'orders:write' }] },
    });
    assert.equal(res.status, 201, res.text);
    const app = await s.request('POST', '/api/v1/admin/applications', {
      tenant: a.slug,
      token: a.admin!.accessToken,
      body: { name: 'Billing worker', type: 'm2m', resources: [AUD], scopes: ['orders:read'] },
    });
    assert.equal(app.status, 201, app.text);
    const w = await s.request('POST', '/api/v1/admin/applications', {
      tenant: a.slug,
      token: a.admin!.accessToken,
      body: { name: 'Shop', type: 'web', redirectUris: [CALLBACK], postLogoutRedirectUris: ['https://app.example.test/bye'] },
    });
    assert.equal(w.status, 201, w.text);
    return { s, a, b, m2m: app.body, web: w.body };
  } catch (err) {
    await s.close();
    throw err;
  }
}

/** Waits for an OAuth error answer with this `error` code. */
export async function rejectsWith(p: Promise<unknown>, code: string, label?: string): Promise<void> {
  await assert.rejects(p, (err: { error?: string; cause?: unknown }) => {
    // an error answer in the body, or (client authentication) in WWW-Authenticate
    const challenge = Array.isArray(err.cause) ? (err.cause[0] as { parameters?: { error?: string } }).parameters?.error : undefined;
    assert.equal(err.error ?? challenge, code, `${label ?? ''} ${String(err)}`);
    return true;
  });
}
