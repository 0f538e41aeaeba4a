/**
 * Revocation reaches the applications on every replica: a second auth service instance (its
 * own provider cache, its own memory; the same database, Redis and NATS) answers the token
 * endpoint and introspection for grants made through the first, and sees a sign-out made
 * through the first at once (the provider keeps no grant or token in memory: every lookup
 * reads the database, where the sign-out deleted them in its own transaction).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { TENANT_HEADER, TENANT_SLUG_HEADER } from '@gatehouse/platform/auth';
import type { ServiceInstance } from '@gatehouse/platform/service';
import { authService, type AuthDeps } from '@gatehouse/auth';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';
import { browser, discover, fetchVia } from './fixtures';

const CALLBACK = 'https://app.example.test/callback';

// On PostgreSQL the two instances share the database; embedded, they share the process's one
// PGlite instance (packages/platform/src/pglite.ts), as two services of one process do.
describe('OpenID provider: two auth instances', () => {
  let s: TestSystem;
  let second: ServiceInstance<AuthDeps>;
  let secondUrl: string;

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    second = await authService.create(s.config, s.shared);
    await second.app.listen({ host: '127.0.0.1', port: 0 });
    secondUrl = `http://127.0.0.1:${(second.app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await second?.close();
    await s?.close();
  });

  test('a grant made through one instance is revoked at the other by a Gatehouse sign-out', async () => {
    const t = await s.createTenant();
    const app = await s.request('POST', '/api/v1/admin/applications', { tenant: t.slug, token: t.admin!.accessToken, body: { name: 'Shop', type: 'web', redirectUris: [CALLBACK] } });
    assert.equal(app.status, 201, app.text);
    const user = await s.register({ tenant: t.slug });
    const first = await discover(s, t.slug, app.body.clientId, app.body.clientSecret);
    // the second instance, reached directly with the headers the gateway would add
    const other = await discover(s, t.slug, app.body.clientId, app.body.clientSecret, {}, fetchVia(secondUrl, { [TENANT_HEADER]: t.id, [TENANT_SLUG_HEADER]: t.slug }));

    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(first, {
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const landed = await browser(s, t.slug).signIn(url.href, user.accessToken);
    const tokens = await client.authorizationCodeGrant(first, new URL(landed), { pkceCodeVerifier: verifier, expectedState: 'st' });
    assert.equal((await client.tokenIntrospection(other, tokens.access_token)).active, true);
    const rotated = await client.refreshTokenGrant(other, tokens.refresh_token!);

    const out = await s.request('POST', '/api/v1/auth/logout-all', { tenant: t.slug, token: user.accessToken, body: {} });
    assert.equal(out.status, 204, out.text);
    assert.equal((await client.tokenIntrospection(other, rotated.access_token)).active, false);
    await assert.rejects(client.refreshTokenGrant(other, rotated.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
  });
});
