/**
 * The OpenID provider refuses the attacks of issue 11, each with the RFC's error: redirect
 * URI variants (the 19 of the social-login tests), PKCE missing or `plain` for a public
 * client, a code bound to another client, the implicit flow, an expired refresh token, an
 * open redirect through post_logout_redirect_uri. Through the gateway on real HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { REDIRECT_URI_VARIANTS } from '@gatehouse/auth/testing';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';
import { browser, discover } from './fixtures';

const APP = 'https://app.example.com/callback';

describe('OpenID provider: attacks', () => {
  let s: TestSystem;
  let t: Awaited<ReturnType<TestSystem['createTenant']>>;
  let web: { id: string; clientId: string; clientSecret: string };
  let web2: { id: string; clientId: string; clientSecret: string };
  let spa: { id: string; clientId: string };

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    t = await s.createTenant();
    const mk = async (body: Record<string, unknown>) => {
      const r = await s.request('POST', '/api/v1/admin/applications', { tenant: t.slug, token: t.admin!.accessToken, body });
      assert.equal(r.status, 201, r.text);
      return r.body;
    };
    web = await mk({ name: 'Web', type: 'web', redirectUris: [APP, 'http://localhost:5173/auth/done'], postLogoutRedirectUris: ['https://app.example.com/bye'] });
    web2 = await mk({ name: 'Other', type: 'web', redirectUris: [APP] });
    spa = await mk({ name: 'SPA', type: 'spa', redirectUris: [APP] });
  });
  after(async () => {
    await s?.close();
  });

  const authorize = (clientId: string, params: Record<string, string>) => {
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', state: 'st', ...params });
    return `https://${t.slug}.${s.baseDomain}/oidc/auth?${q}`;
  };

  test('redirect URIs not registered exactly are refused without a redirect (19 variants)', async () => {
    const bad = REDIRECT_URI_VARIANTS;
    const nav = browser(s, t.slug);
    for (const redirectUri of bad) {
      const r = await nav.go('GET', authorize(web.clientId, { redirect_uri: redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
      assert.equal(r.status, 400, redirectUri);
      assert.equal(r.location, undefined, redirectUri);
      assert.match(r.text, /invalid_redirect_uri|invalid_request/, redirectUri);
    }
    const ok = await nav.go('GET', authorize(web.clientId, { redirect_uri: 'http://localhost:5173/auth/done', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    assert.equal(ok.status, 303, 'the exact entry works');
  });

  test('a public client without PKCE, or with plain, is refused; response_type=token (implicit) is refused', async () => {
    const nav = browser(s, t.slug);
    const missing = new URL((await nav.go('GET', authorize(spa.clientId, { redirect_uri: APP }))).location!);
    assert.equal(missing.searchParams.get('error'), 'invalid_request');
    const plain = new URL((await nav.go('GET', authorize(spa.clientId, { redirect_uri: APP, code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }))).location!);
    assert.equal(plain.searchParams.get('error'), 'invalid_request');
    const implicit = await nav.go('GET', authorize(web.clientId, { redirect_uri: APP, response_type: 'token' }));
    const err = implicit.location ? new URL(implicit.location).searchParams.get('error') ?? new URL(implicit.location.replace('#', '?')).searchParams.get('error') : /unsupported_response_type/.exec(implicit.text)?.[0];
    assert.equal(err, 'unsupported_response_type');
  });

  test('a code bound to another client, and an expired refresh token, are invalid_grant', async () => {
    const user = await s.register({ tenant: t.slug });
    const config = await discover(s, t.slug, web.clientId, web.clientSecret);
    const other = await discover(s, t.slug, web2.clientId, web2.clientSecret);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: APP,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const landed = new URL(await browser(s, t.slug).signIn(url.href, user.accessToken));
    await assert.rejects(client.authorizationCodeGrant(other, landed, { pkceCodeVerifier: verifier, expectedState: 'st' }), (e: { error?: string }) => e.error === 'invalid_grant');

    // a fresh sign-in for the expiry case
    const url2 = client.buildAuthorizationUrl(config, {
      redirect_uri: APP,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const landed2 = new URL(await browser(s, t.slug).signIn(url2.href, user.accessToken));
    const tokens = await client.authorizationCodeGrant(config, landed2, { pkceCodeVerifier: verifier, expectedState: 'st' });
    // the refresh token expires: its row's expiry passes (as the purge would see it)
    await s.services.auth.deps.db.admin.updateTable('oidc_payloads').set({ expires_at: new Date(Date.now() - 1000) }).where('model', '=', 'RefreshToken').where('account_id', '=', user.id).execute();
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
  });

  test('post_logout_redirect_uri: only a registered one is followed', async () => {
    const user = await s.register({ tenant: t.slug });
    const config = await discover(s, t.slug, web.clientId, web.clientSecret);
    const nav = browser(s, t.slug);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: APP,
      scope: 'openid',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const tokens = await client.authorizationCodeGrant(config, new URL(await nav.signIn(url.href, user.accessToken)), { pkceCodeVerifier: verifier, expectedState: 'st' });
    const evil = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/bye' });
    const r = await nav.go('GET', evil.href);
    assert.equal(r.status, 400);
    assert.equal(r.location, undefined);
    assert.match(r.text, /invalid_request/);
  });
});
