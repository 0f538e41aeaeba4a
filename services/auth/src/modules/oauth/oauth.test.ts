import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { randomBytes } from 'node:crypto';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { REDIRECT_URI_VARIANTS, startAuth, uniqueEmail, type Harness } from '../../testing';
import { totpAt } from '../mfa/mfa.totp';
import { CLIENT_ID, CLIENT_SECRET, startFakeGitHub, startIdp, type Idp, type IdpAccount } from './oauth.fixtures';

let h: Harness;
let idp: Idp;
let adminToken: string;

const P = '/api/v1/auth/oauth';
const APP = 'https://app.example.com/callback';
const PUBLIC = 'http://localhost:3000';

before(async () => {
  h = await startAuth({ PUBLIC_URL: PUBLIC });
  idp = await startIdp([`${PUBLIC}${P}/oidc/callback`, `${PUBLIC}${P}/google/callback`]);
  await h.deps.db.admin
    .updateTable('tenants')
    .set({ settings: JSON.stringify({ redirectUris: [APP, 'http://localhost:5173/auth/done'] }) })
    .where('id', '=', DEFAULT_TENANT_ID)
    .execute();
  adminToken = (await h.admin()).accessToken;
  const generic = await h.request('PUT', '/api/v1/admin/oauth-providers/oidc', {
    token: adminToken,
    body: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, discoveryUrl: idp.issuer },
  });
  assert.equal(generic.statusCode, 200, generic.body);
  // "google" with its endpoints overridden to the local provider: the Google code path, offline
  const google = await h.request('PUT', '/api/v1/admin/oauth-providers/google', {
    token: adminToken,
    body: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      issuer: idp.issuer,
      authorizationEndpoint: `${idp.issuer}/auth`,
      tokenEndpoint: `${idp.issuer}/token`,
      userinfoEndpoint: `${idp.issuer}/me`,
      jwksUri: `${idp.issuer}/jwks`,
    },
  });
  assert.equal(google.statusCode, 200, google.body);
});

after(async () => {
  await idp?.close();
  await h?.close();
});

/** A new provider account (its subject) with these claims; the provider will log it in. */
function account(claims: IdpAccount): string {
  const sub = `sub-${randomBytes(6).toString('hex')}`;
  idp.accounts.set(sub, claims);
  idp.behaviour.account = sub;
  idp.behaviour.deny = false;
  return sub;
}

async function start(provider: string, redirectUri = APP, tenant?: string) {
  const res = await h.request('GET', `${P}/${provider}/start`, { query: { redirectUri }, tenant });
  assert.equal(res.statusCode, 302, res.body);
  const cookie = res.cookies.find((c) => c.name === 'gatehouse_oauth');
  assert.ok(cookie, 'the flow is bound to the browser');
  return { location: new URL(String(res.headers.location)), binding: cookie.value };
}

/** Gatehouse's callback with what the provider sent; returns where Gatehouse redirects. */
async function callback(at: URL, binding: string | undefined) {
  const res = await h.request('GET', at.pathname + at.search, { cookies: binding ? { gatehouse_oauth: binding } : undefined });
  return res;
}

/** A whole browser flow; `tamper` edits the authorization URL on its way to the provider. */
async function flow(provider: string, o: { tamper?: (u: URL) => void; binding?: (own: string) => string | undefined } = {}) {
  const s = await start(provider);
  o.tamper?.(s.location);
  const back = await idp.drive(s.location.href);
  assert.equal(back.origin + back.pathname, `${PUBLIC}${P}/${provider}/callback`);
  const res = await callback(back, o.binding ? o.binding(s.binding) : s.binding);
  return { res, back, redirect: res.statusCode === 302 ? new URL(String(res.headers.location)) : undefined };
}

async function exchange(code: string) {
  return h.request('POST', `${P}/exchange`, { body: { code } });
}

describe('provider configuration', () => {
  test('GET /oauth/providers lists what is configured and enabled; enabledProviders narrows it', async () => {
    const res = await h.request('GET', `${P}/providers`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().items, [
      { id: 'google', name: 'Google' },
      { id: 'oidc', name: 'OpenID Connect' },
    ]);
    const t = await h.createTenant('active', { enabledProviders: ['github'] });
    const tAdmin = await h.admin(['admin'], t.id);
    for (const provider of ['oidc', 'github']) {
      const put = await h.request('PUT', `/api/v1/admin/oauth-providers/${provider}`, {
        token: tAdmin.accessToken,
        tenant: t.id,
        body: { clientId: 'x', clientSecret: 'y', ...(provider === 'oidc' ? { discoveryUrl: idp.issuer } : {}) },
      });
      assert.equal(put.statusCode, 200, put.body);
    }
    const narrowed = await h.request('GET', `${P}/providers`, { tenant: t.id });
    assert.deepEqual(narrowed.json().items, [{ id: 'github', name: 'GitHub' }]);
    const notOffered = await h.request('GET', `${P}/oidc/start`, { tenant: t.id, query: { redirectUri: APP } });
    assert.equal(notOffered.statusCode, 400, 'the redirect URI is checked first: this tenant registered none');
  });

  test('admin API: secrets sealed and never returned; only admins; bad configurations are 400, unknown providers 404', async () => {
    const list = await h.request('GET', '/api/v1/admin/oauth-providers', { token: adminToken });
    assert.equal(list.statusCode, 200);
    assert.ok(!list.body.includes(CLIENT_SECRET), 'no secret in the answer');
    assert.equal(list.json().items.find((i: { provider: string }) => i.provider === 'google').hasClientSecret, true);
    const rows = await h.deps.db.admin.selectFrom('oauth_providers').select('client_secret_sealed').execute();
    assert.ok(rows.length >= 2 && rows.every((r) => !String(r.client_secret_sealed).includes(CLIENT_SECRET)), 'stored sealed');
    const user = await h.register();
    const denied = await h.request('GET', '/api/v1/admin/oauth-providers', { token: user.accessToken });
    assert.equal(denied.statusCode, 403);
    const cases: Array<[string, object, number]> = [
      ['oidc', { clientId: 'a', clientSecret: 'b' }, 400],
      ['oidc', { clientId: 'a', clientSecret: 'b', discoveryUrl: 'http://idp.example.com' }, 400],
      ['oidc', { clientId: 'a', clientSecret: 'b', discoveryUrl: 'https://user:pw@idp.example.com' }, 400],
      ['google', { clientId: 'a', clientSecret: 'b', authorizationEndpoint: 'https://x.example/auth', tokenEndpoint: 'https://x.example/token' }, 400],
      ['facebook', { clientId: 'a' }, 400],
      ['myspace', { clientId: 'a', clientSecret: 'b' }, 404],
    ];
    for (const [provider, body, status] of cases) {
      const res = await h.request('PUT', `/api/v1/admin/oauth-providers/${provider}`, { token: adminToken, body });
      assert.equal(res.statusCode, status, `${provider} ${JSON.stringify(body)}: ${res.body}`);
    }
  });
});

for (const provider of ['oidc', 'google']) {
  describe(`social login end to end: ${provider}`, () => {
    test('success: a new account (verified email), tokens only through the one-time code, same account next time; code and callback replays fail', async () => {
      const email = uniqueEmail(provider);
      const sub = account({ email, email_verified: true, name: 'Ada Lovelace' });
      const { redirect, back } = await flow(provider);
      assert.ok(redirect, 'redirected back to the app');
      assert.equal(`${redirect.origin}${redirect.pathname}`, APP);
      const code = redirect.searchParams.get('code');
      assert.ok(code && !redirect.searchParams.has('error'));
      assert.ok(![...redirect.searchParams.keys()].some((k) => /token/i.test(k)), 'no token in the URL');
      const res = await exchange(code);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.user.email, email);
      assert.equal(body.user.emailVerified, true);
      assert.equal(body.user.displayName, 'Ada Lovelace');
      assert.deepEqual(decodeJwt(body.accessToken).amr, ['fed']);
      const replay = await exchange(code);
      assert.equal(replay.statusCode, 400);
      assert.equal(replay.json().code, 'invalid_code');
      const again = await callback(back, undefined);
      assert.equal(again.statusCode, 400, 'the provider callback works once');
      assert.equal(again.json().code, 'invalid_state');

      const second = await flow(provider);
      const next = await exchange(second.redirect!.searchParams.get('code')!);
      assert.equal(next.json().user.id, body.user.id, 'provider + subject find the same account');
      const ids = await h.deps.db.admin.selectFrom('oauth_identities').selectAll().where('subject', '=', sub).execute();
      assert.equal(ids.length, 1);
      assert.equal(ids[0]!.provider, provider);
      const ev = (await h.outbox()).filter((e) => e.subject === 'auth.events.login_succeeded' && e.event.subject === body.user.id);
      assert.ok(ev.some((e) => e.event.data.method === `oauth:${provider}`));
    });

    test('state mismatch: a callback in a browser that did not start the flow, or with a forged state, gives no code', async () => {
      account({ email: uniqueEmail('csrf'), email_verified: true });
      const other = await start(provider);
      const crossed = await flow(provider, { binding: () => other.binding });
      assert.equal(crossed.redirect?.searchParams.get('error'), 'state_mismatch');
      assert.equal(crossed.redirect?.searchParams.get('code'), null);
      const none = await flow(provider, { binding: () => undefined });
      assert.equal(none.redirect?.searchParams.get('error'), 'state_mismatch');
      const forged = await h.request('GET', `${P}/${provider}/callback`, { query: { state: 'forged', code: 'x' }, cookies: { gatehouse_oauth: other.binding } });
      assert.equal(forged.statusCode, 400);
      assert.equal(forged.json().code, 'invalid_state');
    });

    test('nonce mismatch: an ID token for another nonce is refused', async () => {
      account({ email: uniqueEmail('nonce'), email_verified: true });
      const { redirect } = await flow(provider, { tamper: (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce') });
      assert.equal(redirect?.searchParams.get('error'), 'invalid_id_token');
      assert.equal(redirect?.searchParams.get('code'), null);
    });

    test('PKCE: a code issued for another verifier\'s challenge is refused at the token endpoint', async () => {
      account({ email: uniqueEmail('pkce'), email_verified: true });
      const { redirect } = await flow(provider, { tamper: (u) => u.searchParams.set('code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM') });
      assert.equal(redirect?.searchParams.get('error'), 'invalid_grant');
    });

    test('denied consent comes back as error=access_denied', async () => {
      account({ email: uniqueEmail('deny'), email_verified: true });
      idp.behaviour.deny = true;
      const { redirect } = await flow(provider);
      idp.behaviour.deny = false;
      assert.equal(redirect?.searchParams.get('error'), 'access_denied');
      assert.equal(redirect?.searchParams.get('code'), null);
    });
  });
}

describe('redirect URIs and linking', () => {
  test('redirect URIs not on the allow-list are refused with 400 invalid_redirect_uri (userinfo, ..;/, extra path, other port, ...)', async () => {
    const bad = REDIRECT_URI_VARIANTS;
    for (const redirectUri of bad) {
      const res = await h.request('GET', `${P}/oidc/start`, { query: { redirectUri } });
      assert.equal(res.statusCode, 400, redirectUri);
      assert.equal(res.json().code, 'invalid_redirect_uri', redirectUri);
      assert.equal(res.headers.location, undefined);
    }
    const ok = await h.request('GET', `${P}/oidc/start`, { query: { redirectUri: 'http://localhost:5173/auth/done' } });
    assert.equal(ok.statusCode, 302, 'the exact entry works');
    const unknown = await h.request('GET', `${P}/myspace/start`, { query: { redirectUri: APP } });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'provider_not_found');
  });

  test('an unverified provider email is not auto-linked to an existing account; a verified one is; linking from the account works', async () => {
    const r = await h.register();
    await h.deps.db.admin.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', r.userId).execute();
    const unverifiedSub = account({ email: r.email, email_verified: false });
    const refused = await flow('oidc');
    assert.equal(refused.redirect?.searchParams.get('error'), 'link_required');
    assert.equal(refused.redirect?.searchParams.get('code'), null);
    assert.equal((await h.deps.db.admin.selectFrom('oauth_identities').selectAll().where('subject', '=', unverifiedSub).execute()).length, 0);

    // the signed-in user links that same provider account from their account
    const link = await h.request('POST', `${P}/oidc/link/start`, { token: r.accessToken, body: { redirectUri: APP } });
    assert.equal(link.statusCode, 200, link.body);
    const binding = link.cookies.find((c) => c.name === 'gatehouse_oauth')!.value;
    const back = await idp.drive(link.json().authorizationUrl);
    const linked = await callback(back, binding);
    assert.equal(new URL(String(linked.headers.location)).searchParams.get('linked'), 'oidc');
    const now = await flow('oidc');
    const tokens = await exchange(now.redirect!.searchParams.get('code')!);
    assert.equal(tokens.json().user.id, r.userId, 'the linked identity signs in to the account');

    const r2 = await h.register();
    await h.deps.db.admin.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', r2.userId).execute();
    account({ email: r2.email.toUpperCase(), email_verified: true });
    const auto = await flow('google');
    const autoTokens = await exchange(auto.redirect!.searchParams.get('code')!);
    assert.equal(autoTokens.json().user.id, r2.userId, 'a verified email links to the existing account');

    const r3 = await h.register();
    account({ email: r3.email, email_verified: true });
    const unverifiedLocal = await flow('google');
    assert.equal(unverifiedLocal.redirect?.searchParams.get('error'), 'link_required', 'the local account\'s email is unverified: no auto-link');
  });

  test('a user with TOTP signing in through a provider still needs the code', async () => {
    const email = uniqueEmail('fedmfa');
    account({ email, email_verified: true });
    const first = await exchange((await flow('oidc')).redirect!.searchParams.get('code')!);
    const token = first.json().accessToken as string;
    const setup = (await h.request('POST', '/api/v1/auth/mfa/totp/setup', { token })).json();
    assert.equal((await h.request('POST', '/api/v1/auth/mfa/totp/confirm', { token, body: { code: totpAt(setup.secret, Date.now()) } })).statusCode, 200);
    const again = await exchange((await flow('oidc')).redirect!.searchParams.get('code')!);
    assert.equal(again.json().mfaRequired, true);
    assert.equal(again.json().accessToken, undefined);
    const done = await h.request('POST', '/api/v1/auth/login/mfa', { body: { mfaToken: again.json().mfaToken, code: totpAt(setup.secret, Date.now() + 30_000) } });
    assert.equal(done.statusCode, 200);
    assert.deepEqual(decodeJwt(done.json().accessToken).amr, ['fed', 'otp']);
  });
});

describe('GitHub (arctic) against a stand-in of its endpoints', () => {
  test('PKCE and Basic client auth; the verified primary email from /user/emails; a wrong verifier is invalid_grant', async () => {
    const email = uniqueEmail('gh');
    const gh = await startFakeGitHub({ id: 424242, login: 'octo', name: 'Octo Cat', email, verified: true });
    try {
      const put = await h.request('PUT', '/api/v1/admin/oauth-providers/github', {
        token: adminToken,
        body: {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          authorizationEndpoint: `${gh.base}/login/oauth/authorize`,
          tokenEndpoint: `${gh.base}/login/oauth/access_token`,
          userinfoEndpoint: `${gh.base}/user`,
        },
      });
      assert.equal(put.statusCode, 200, put.body);
      const s = await start('github');
      assert.equal(s.location.searchParams.get('code_challenge_method'), 'S256');
      const back = await fetch(s.location, { redirect: 'manual' });
      const res = await callback(new URL(back.headers.get('location')!), s.binding);
      const code = new URL(String(res.headers.location)).searchParams.get('code');
      assert.ok(code, String(res.headers.location));
      const tokens = await exchange(code);
      assert.equal(tokens.statusCode, 200);
      assert.equal(tokens.json().user.email, email, 'the primary email, not another one');
      assert.equal(tokens.json().user.emailVerified, true);
      assert.equal(tokens.json().user.displayName, 'Octo Cat');

      const t = await start('github');
      t.location.searchParams.set('code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
      const tampered = await fetch(t.location, { redirect: 'manual' });
      const failed = await callback(new URL(tampered.headers.get('location')!), t.binding);
      assert.equal(new URL(String(failed.headers.location)).searchParams.get('error'), 'invalid_grant');
    } finally {
      await gh.close();
      await h.request('DELETE', '/api/v1/admin/oauth-providers/github', { token: adminToken });
    }
  });
});
