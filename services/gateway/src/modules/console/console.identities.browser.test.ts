/**
 * Linked sign-in identities on the console's Account screen (issue 12) in headless Chromium at
 * 360 px, against a real OpenID provider stand-in (oidc-provider, the auth module's test
 * fixture) serving as the tenant's generic OIDC provider and as LINE (HS256 ID tokens): a user
 * signs up through "Sign in with OpenID Connect", links LINE from the Account screen (the
 * browser walks the provider's pages), unlinks it, and is refused unlinking the last way to
 * sign in (409 last_sign_in_method, its detail shown). The page must log no errors, throw
 * nothing and violate no CSP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { CLIENT_ID, CLIENT_SECRET, LINE_CHANNEL_ID, LINE_CHANNEL_SECRET, startIdp, type Idp } from '../../../../auth/src/modules/oauth/oauth.fixtures';
import { assertClean, chromiumMissing, heading, launchChromium, openPage, run } from './console.browser.fixtures';

/** A free loopback port: the gateway's PUBLIC_URL must name it before it starts (the providers redirect there). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('console: linked sign-in identities in headless Chromium (360 px)', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;
  let idp: Idp;
  let origin: string;

  before(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    [system, browser] = await Promise.all([startTestSystem({ port, env: { PUBLIC_URL: origin } }), launchChromium()]);
    idp = await startIdp([`${origin}/api/v1/auth/oauth/oidc/callback`, `${origin}/api/v1/auth/oauth/line/callback`]);
    // the default tenant (the browser reaches it as localhost), configured by its admin (the superadmin)
    const token = await system.superadminToken();
    const settings = await system.request('PATCH', '/api/v1/admin/tenant', { token, body: { settings: { redirectUris: [`${origin}/oauth-callback`] } } });
    assert.equal(settings.status, 200, settings.text);
    const oidc = await system.request('PUT', '/api/v1/admin/oauth-providers/oidc', { token, body: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, discoveryUrl: idp.issuer } });
    assert.equal(oidc.status, 200, oidc.text);
    const line = await system.request('PUT', '/api/v1/admin/oauth-providers/line', {
      token,
      body: { clientId: LINE_CHANNEL_ID, clientSecret: LINE_CHANNEL_SECRET, issuer: idp.issuer, authorizationEndpoint: `${idp.issuer}/auth`, tokenEndpoint: `${idp.issuer}/token` },
    });
    assert.equal(line.status, 200, line.text);
  });
  after(async () => {
    await browser?.close();
    await idp?.close();
    await system?.close();
  });

  /** The provider will sign in a new account of its own with this email. */
  function providerAccount(email: string) {
    const sub = `sub-${randomBytes(6).toString('hex')}`;
    idp.accounts.set(sub, { email, email_verified: true, name: 'Linda Link' });
    idp.behaviour.account = sub;
  }

  test('sign up with OpenID Connect, link LINE, unlink it; the last way to sign in cannot be unlinked', async () => {
    const context = await browser.newContext({ baseURL: origin, viewport: { width: 360, height: 740 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto('/');
      await heading(page, 'Sign in');
      providerAccount(`linda-${run}@example.test`);
      await page.getByRole('link', { name: 'Sign in with OpenID Connect' }).click();
      await heading(page, 'My account');

      const card = page.locator('section', { has: page.getByRole('heading', { name: 'Linked sign-ins' }) });
      const rows = card.getByRole('list', { name: 'Linked sign-ins' });
      await rows.locator('li[data-provider="oidc"]').getByText('OpenID Connect').waitFor();
      assert.equal(await rows.locator('li').count(), 1);

      // link LINE: the browser goes to the provider and comes back to the Account screen
      // another account at the provider: its session of the first sign-in is forgotten
      await context.clearCookies({ domain: '127.0.0.1' });
      providerAccount(`linda-line-${run}@example.test`);
      await card.getByRole('button', { name: 'Link LINE', exact: true }).click();
      await page.getByText('LINE is linked: you can sign in with it.').waitFor();
      await heading(page, 'My account');
      await rows.locator('li[data-provider="line"]').getByText(`linda-line-${run}@example.test`).waitFor();
      assert.equal(await card.getByRole('button', { name: 'Link LINE', exact: true }).count(), 0, 'a linked provider is not offered again');

      // unlink LINE (asked first): OpenID Connect remains
      await card.getByRole('button', { name: 'Unlink LINE' }).click();
      await card.getByRole('button', { name: 'Unlink LINE' }).click();
      await page.getByText('LINE is unlinked.').waitFor();
      await rows.locator('li[data-provider="line"]').waitFor({ state: 'detached' });
      await card.getByRole('button', { name: 'Link LINE', exact: true }).waitFor();

      // the only way left to sign in: refused, with the API's detail
      await card.getByRole('button', { name: 'Unlink OpenID Connect' }).click();
      await card.getByText('OpenID Connect is your only way to sign in; unlinking will be refused.').waitFor();
      await card.getByRole('button', { name: 'Unlink OpenID Connect' }).click();
      await card.getByRole('alert').getByText(/This is your only way to sign in/).waitFor();
      assert.equal(await rows.locator('li[data-provider="oidc"]').count(), 1);

      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok(overflow <= 1, `the Account screen is ${overflow}px wider than 360 px`);
      assertClean(problems, ['DELETE /api/v1/auth/identities/oidc 409']);
    } finally {
      await context.close();
    }
  });
});
