/**
 * The OpenID provider's hosted login in headless Chromium (issue 11): openid-client is the
 * relying party of two applications of the default tenant (issuer `http://localhost:<port>/oidc`,
 * PUBLIC_URL), the browser signs in on the web console and consents; the ID token is
 * validated by openid-client; a second, first-party application then signs in without a
 * password (single sign-on, no consent screen); prompt=none answers with a code; RP-initiated
 * logout ends the provider session (prompt=none then answers login_required); the device flow
 * (RFC 8628) is approved in the browser while a CLI polls. A sign-in through a social provider
 * (an oidc-provider stand-in as the tenant's generic OpenID Connect provider) resumes the
 * application's pending sign-in: app -> /oidc/auth -> console -> provider -> /oauth-callback
 * -> consent -> code at the app.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startTestSystem, type TestSystem } from '../system';
import { totpAt } from '../../../services/auth/src/modules/mfa/mfa.totp';
import { assertClean, chromiumMissing, launchChromium, makeUser, openPage, run, signInUi, signOutUi } from '../../../services/gateway/src/modules/console/console.browser.fixtures';
import { CLIENT_ID, CLIENT_SECRET, startIdp, type Idp } from '../../../services/auth/src/modules/oauth/oauth.fixtures';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('OpenID provider: hosted login in headless Chromium', { skip: chromiumMissing }, () => {
  let s: TestSystem;
  let browser: Browser;
  let app: http.Server;
  let appUrl: string;
  let origin: string;
  let idp: Idp;

  before(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    app = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('the application'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    [s, browser] = await Promise.all([startTestSystem({ port, env: { PUBLIC_URL: origin } }), launchChromium()]);
    // a social sign-in provider for the default tenant: the generic OpenID Connect one, a real
    // oidc-provider on loopback; the console's /oauth-callback is on the tenant's redirect URIs
    idp = await startIdp([`${origin}/api/v1/auth/oauth/oidc/callback`]);
    const token = await s.superadminToken();
    const settings = await s.request('PATCH', '/api/v1/admin/tenant', { token, body: { settings: { redirectUris: [`${origin}/oauth-callback`] } } });
    assert.equal(settings.status, 200, settings.text);
    const oidc = await s.request('PUT', '/api/v1/admin/oauth-providers/oidc', { token, body: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, discoveryUrl: idp.issuer } });
    assert.equal(oidc.status, 200, oidc.text);
  });
  after(async () => {
    await idp?.close();
    await browser?.close();
    await s?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
  });

  test('code + PKCE: console sign-in and consent, ID token, SSO to a first-party app, prompt=none, RP-initiated logout, device flow', async () => {
    const root = await s.login(s.superadmin.email, s.superadmin.password);
    const mk = async (body: Record<string, unknown>) => {
      const r = await s.request('POST', '/api/v1/admin/applications', { token: root.accessToken, body });
      assert.equal(r.status, 201, r.text);
      return r.body as { id: string; clientId: string; clientSecret: string };
    };
    const shop = await mk({ name: 'Shop', type: 'web', redirectUris: [`${appUrl}/callback`], postLogoutRedirectUris: [`${appUrl}/bye`] });
    const wiki = await mk({ name: 'Wiki', type: 'spa', redirectUris: [`${appUrl}/wiki`], firstParty: true });
    const ada = makeUser('oidc-ada');
    const reg = await s.request('POST', '/api/v1/auth/register', { body: { email: ada.email, password: ada.password } });
    assert.equal(reg.status, 201, reg.text);

    const issuer = new URL(`${origin}/oidc`);
    const shopConfig = await client.discovery(issuer, shop.clientId, shop.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const wikiConfig = await client.discovery(issuer, wiki.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });

    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    try {
      const { page } = await openPage(context);
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const authUrl = client.buildAuthorizationUrl(shopConfig, {
        redirect_uri: `${appUrl}/callback`,
        scope: 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state: 'shop',
      });
      await page.goto(authUrl.href);
      // the console's sign-in screen, then the consent screen naming the application
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await signInUi(page, ada.email, ada.password);
      await page.getByRole('heading', { name: 'Allow Shop?' }).waitFor();
      await page.getByText('Your email address and whether it is verified').waitFor();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${appUrl}/callback?**`);
      const tokens = await client.authorizationCodeGrant(shopConfig, new URL(page.url()), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: 'shop' });
      const claims = tokens.claims()!;
      assert.equal(claims.email, ada.email);
      assert.deepEqual(claims.amr, ['pwd']);
      const info = await client.fetchUserInfo(shopConfig, tokens.access_token, claims.sub);
      assert.equal(info.email, ada.email);

      // single sign-on: the first-party Wiki signs in without a password and without consent
      const v2 = client.randomPKCECodeVerifier();
      await page.goto(
        client.buildAuthorizationUrl(wikiConfig, {
          redirect_uri: `${appUrl}/wiki`,
          scope: 'openid email',
          code_challenge: await client.calculatePKCECodeChallenge(v2),
          code_challenge_method: 'S256',
          state: 'wiki',
        }).href,
      );
      await page.waitForURL(`${appUrl}/wiki?**`);
      const wikiTokens = await client.authorizationCodeGrant(wikiConfig, new URL(page.url()), { pkceCodeVerifier: v2, expectedState: 'wiki' });
      assert.equal(wikiTokens.claims()!.sub, claims.sub);

      // prompt=none while signed in: a code without a page
      const v3 = client.randomPKCECodeVerifier();
      const silent = client.buildAuthorizationUrl(shopConfig, {
        redirect_uri: `${appUrl}/callback`,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(v3),
        code_challenge_method: 'S256',
        prompt: 'none',
        state: 'silent',
      });
      await page.goto(silent.href);
      await page.waitForURL(`${appUrl}/callback?**`);
      assert.ok(new URL(page.url()).searchParams.get('code'));

      // RP-initiated logout back to a registered address; then prompt=none needs a sign-in
      await page.goto(client.buildEndSessionUrl(shopConfig, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${appUrl}/bye`, state: 'bye' }).href);
      const yes = page.getByRole('button', { name: /sign me out/i });
      if (await yes.isVisible().catch(() => false)) await yes.click();
      await page.waitForURL(`${appUrl}/bye**`);
      await page.goto(silent.href);
      await page.waitForURL(`${appUrl}/callback?**`);
      assert.equal(new URL(page.url()).searchParams.get('error'), 'login_required');

      // device flow (RFC 8628): a CLI asks, the user approves in the browser, the CLI polls
      const cli = await mk({ name: 'CLI', type: 'native', redirectUris: ['http://127.0.0.1/cli'] });
      const cliConfig = await client.discovery(issuer, cli.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
      const device = await client.initiateDeviceAuthorization(cliConfig, { scope: 'openid email' });
      const polling = client.pollDeviceAuthorizationGrant(cliConfig, device);
      // the provider's page posts the code on by itself (its inline script allowed by hash)
      await page.goto(device.verification_uri_complete!);
      await page.getByRole('heading', { name: 'Confirm Device' }).waitFor();
      await page.getByRole('button', { name: 'Continue' }).click();
      // the console: still signed in to Gatehouse (its cookie), so only the consent is asked
      await page.getByRole('heading', { name: 'Allow CLI?' }).waitFor();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.getByText(/sign-in successful|you can now close|success/i).first().waitFor();
      const deviceTokens = await polling;
      assert.equal(deviceTokens.claims()!.sub, claims.sub);

      // Account → Connected apps: the consented applications; disconnecting one ends its tokens
      await page.goto(`${origin}/#/account`);
      const apps = page.getByRole('list', { name: 'Connected apps' });
      await apps.getByText(/^Shop — /).waitFor();
      await apps.getByText(/^CLI — /).waitFor();
      assert.equal((await client.tokenIntrospection(cliConfig, deviceTokens.access_token)).active, true);
      await page.getByRole('button', { name: 'Disconnect CLI' }).click();
      await page.getByText('CLI is disconnected.').waitFor();
      await apps.getByText(/^CLI — /).waitFor({ state: 'detached' });
      assert.equal((await client.tokenIntrospection(cliConfig, deviceTokens.access_token)).active, false);
    } finally {
      await context.close();
    }
  });

  test('a social sign-in on the console resumes the application\'s sign-in: consent, then the code at the application', async () => {
    const root = await s.login(s.superadmin.email, s.superadmin.password);
    const r = await s.request('POST', '/api/v1/admin/applications', { token: root.accessToken, body: { name: 'Social shop', type: 'web', redirectUris: [`${appUrl}/social`] } });
    assert.equal(r.status, 201, r.text);
    const config = await client.discovery(new URL(`${origin}/oidc`), r.body.clientId, r.body.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    // the provider signs in an account of its own, new to Gatehouse (signed up on the way)
    const email = `oidc-social-${run}@example.test`;
    idp.accounts.set(`sub-${run}`, { email, email_verified: true, name: 'Sofia Social' });
    idp.behaviour.account = `sub-${run}`;

    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    try {
      const { page, problems } = await openPage(context);
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      await page.goto(
        client.buildAuthorizationUrl(config, {
          redirect_uri: `${appUrl}/social`,
          scope: 'openid email',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          nonce,
          state: 'social',
        }).href,
      );
      // the console's sign-in screen; the social button leaves for the provider and comes back
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByRole('link', { name: 'Sign in with OpenID Connect' }).click();
      // back on the console, signed in: the pending sign-in continues with the consent screen
      await page.getByRole('heading', { name: 'Allow Social shop?' }).waitFor();
      await page.getByText('Your email address and whether it is verified').waitFor();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${appUrl}/social?**`);
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: 'social' });
      const claims = tokens.claims()!;
      assert.equal(claims.email, email);
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.email, email);
      // the Gatehouse account the social sign-in made is the ID token's subject
      const users = await s.request('GET', `/api/v1/admin/users?query=${encodeURIComponent(email)}`, { token: root.accessToken });
      assert.equal(users.status, 200, users.text);
      assert.ok(JSON.stringify(users.body).includes(claims.sub), `${claims.sub} in ${users.text.slice(0, 300)}`);
      assertClean(problems);
    } finally {
      await context.close();
    }
  });

  test('a passkey sign-in on the console: the application\'s ID token says so (amr)', async () => {
    const root = await s.login(s.superadmin.email, s.superadmin.password);
    const r = await s.request('POST', '/api/v1/admin/applications', { token: root.accessToken, body: { name: 'Passkey shop', type: 'web', firstParty: true, redirectUris: [`${appUrl}/pk`] } });
    assert.equal(r.status, 201, r.text);
    const config = await client.discovery(new URL(`${origin}/oidc`), r.body.clientId, r.body.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const bob = makeUser('oidc-bob');
    assert.equal((await s.request('POST', '/api/v1/auth/register', { body: { email: bob.email, password: bob.password } })).status, 201);

    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    try {
      const { page } = await openPage(context);
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      // a passkey added on the Account screen, then signed out
      await page.goto(`${origin}/`);
      await signInUi(page, bob.email, bob.password);
      await page.getByRole('heading', { name: 'My account' }).waitFor();
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByRole('button', { name: 'Delete' }).waitFor();
      await signOutUi(page);

      const verifier = client.randomPKCECodeVerifier();
      await page.goto(
        client.buildAuthorizationUrl(config, {
          redirect_uri: `${appUrl}/pk`,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: 'pk',
        }).href,
      );
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      // Either the application gets the code, or the console shows why not (a CI run once
      // timed out here with nothing to tell which): the alert's text fails the test at once.
      const alert = page.getByRole('alert').first();
      const outcome = await Promise.race([
        page.waitForURL(`${appUrl}/pk?**`, { timeout: 60_000 }).then(() => 'at the application'),
        alert.waitFor({ state: 'visible', timeout: 60_000 }).then(
          async () => `the console showed: ${await alert.textContent()}`,
          () => 'no alert',
        ),
      ]);
      assert.equal(outcome, 'at the application');
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: 'pk' });
      assert.deepEqual(tokens.claims()!.amr, ['hwk', 'user']);
      assert.equal(tokens.claims()!.acr, 'urn:gatehouse:loa:2');
    } finally {
      await context.close();
    }
  });

  test('the Applications screen: an admin registers an application and sees its secret once', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(`${origin}/`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await signInUi(page, s.superadmin.email, s.superadmin.password);
      await page.getByRole('heading', { name: 'My account' }).waitFor();
      await page.getByRole('link', { name: 'Applications' }).click();
      await page.getByRole('heading', { name: 'Applications' }).waitFor();
      await page.getByLabel('Name').fill('Billing');
      await page.getByLabel('Type').selectOption('web');
      await page.getByLabel('Redirect URIs').fill('https://billing.example.test/callback');
      await page.getByRole('button', { name: 'Register' }).click();
      const secret = await page.locator('code.secret').textContent();
      assert.match(secret ?? '', /^ghs_/);
      const row = page.getByRole('list', { name: 'Applications' }).getByRole('listitem').filter({ hasText: 'Billing' });
      await row.getByText('https://billing.example.test/callback').waitFor();
      await row.getByRole('button', { name: 'Delete Billing' }).click();
      await page.getByText('Billing is deleted; its tokens no longer work.').waitFor();
      assertClean(problems);
    } finally {
      await context.close();
    }
  });

  test('a tenant that requires two-step verification: the hosted login leads through enrolment, then back to the application', async () => {
    const root = await s.login(s.superadmin.email, s.superadmin.password);
    const r = await s.request('POST', '/api/v1/admin/applications', { token: root.accessToken, body: { name: 'Enrolled shop', type: 'web', firstParty: true, redirectUris: [`${appUrl}/mfa`] } });
    assert.equal(r.status, 201, r.text);
    const config = await client.discovery(new URL(`${origin}/oidc`), r.body.clientId, r.body.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const carol = makeUser('oidc-carol');
    assert.equal((await s.request('POST', '/api/v1/auth/register', { body: { email: carol.email, password: carol.password } })).status, 201);
    const on = await s.request('PATCH', `/api/v1/admin/tenants/${DEFAULT_TENANT_ID}`, { token: root.accessToken, body: { settings: { mfaRequired: true } } });
    assert.equal(on.status, 200, on.text);
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    try {
      const { page } = await openPage(context);
      const verifier = client.randomPKCECodeVerifier();
      await page.goto(
        client.buildAuthorizationUrl(config, {
          redirect_uri: `${appUrl}/mfa`,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: 'mfa',
        }).href,
      );
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await signInUi(page, carol.email, carol.password);
      await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
      const secret = (await page.locator('code.secret').textContent())!.trim();
      await page.getByLabel('Authentication code').fill(totpAt(secret, Date.now()));
      await page.getByRole('button', { name: 'Turn on and sign in' }).click();
      await page.getByRole('button', { name: /I saved them/ }).click();
      await page.waitForURL(`${appUrl}/mfa?**`);
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: 'mfa' });
      const amr = tokens.claims()!.amr as string[];
      assert.ok(amr.includes('otp'), JSON.stringify(amr));
    } finally {
      await context.close();
      await s.request('PATCH', `/api/v1/admin/tenants/${DEFAULT_TENANT_ID}`, { token: root.accessToken, body: { settings: { mfaRequired: false } } });
    }
  });
});
