/**
 * LINE and Facebook sign-in end to end against stand-ins built on oidc-provider
 * (oauth.fixtures.ts): start → the provider's login and consent → callback → one-time code →
 * tokens. LINE's HS256 ID tokens are checked by Gatehouse (signature with the channel
 * secret, iss, aud, exp, nonce, alg); the tests rewrite them on their way back like a man in
 * the middle would.
 */
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startAuth, uniqueEmail, type Harness } from '../../testing';
import { FACEBOOK_APP_ID, FACEBOOK_APP_SECRET, LINE_CHANNEL_ID, LINE_CHANNEL_SECRET, startIdp, type Idp, type IdpAccount } from './oauth.fixtures';

let h: Harness;
let idp: Idp;

const P = '/api/v1/auth/oauth';
const APP = 'https://app.example.com/callback';
const PUBLIC = 'http://localhost:3000';

before(async () => {
  h = await startAuth({ PUBLIC_URL: PUBLIC });
  idp = await startIdp([`${PUBLIC}${P}/line/callback`, `${PUBLIC}${P}/facebook/callback`]);
  await h.deps.db.admin.updateTable('tenants').set({ settings: JSON.stringify({ redirectUris: [APP] }) }).where('id', '=', DEFAULT_TENANT_ID).execute();
  const adminToken = (await h.admin()).accessToken;
  // LINE's and Facebook's code paths with their endpoints pointed at the local provider
  const line = await h.request('PUT', '/api/v1/admin/oauth-providers/line', {
    token: adminToken,
    body: { clientId: LINE_CHANNEL_ID, clientSecret: LINE_CHANNEL_SECRET, issuer: idp.issuer, authorizationEndpoint: `${idp.issuer}/auth`, tokenEndpoint: `${idp.issuer}/token` },
  });
  assert.equal(line.statusCode, 200, line.body);
  const facebook = await h.request('PUT', '/api/v1/admin/oauth-providers/facebook', {
    token: adminToken,
    body: {
      clientId: FACEBOOK_APP_ID,
      clientSecret: FACEBOOK_APP_SECRET,
      // the stand-in names itself in the authorization response (RFC 9207 iss), which is checked
      issuer: idp.issuer,
      authorizationEndpoint: `${idp.issuer}/auth`,
      tokenEndpoint: `${idp.issuer}/token`,
      userinfoEndpoint: `${idp.issuer}/v19.0/me?fields=id,name,email`,
    },
  });
  assert.equal(facebook.statusCode, 200, facebook.body);
});

after(async () => {
  await idp?.close();
  await h?.close();
});

afterEach(() => {
  idp.behaviour.idToken = undefined;
});

function account(claims: IdpAccount): string {
  const sub = `U${randomBytes(8).toString('hex')}`;
  idp.accounts.set(sub, claims);
  idp.behaviour.account = sub;
  idp.behaviour.deny = false;
  return sub;
}

async function flow(provider: 'line' | 'facebook', tamper?: (u: URL) => void) {
  const s = await h.request('GET', `${P}/${provider}/start`, { query: { redirectUri: APP } });
  assert.equal(s.statusCode, 302, s.body);
  const binding = s.cookies.find((c) => c.name === 'gatehouse_oauth')!.value;
  const location = new URL(String(s.headers.location));
  tamper?.(location);
  const back = await idp.drive(location.href);
  assert.equal(back.origin + back.pathname, `${PUBLIC}${P}/${provider}/callback`);
  const res = await h.request('GET', back.pathname + back.search, { cookies: { gatehouse_oauth: binding } });
  assert.equal(res.statusCode, 302, res.body);
  return { authorize: location, redirect: new URL(String(res.headers.location)) };
}

async function signIn(provider: 'line' | 'facebook') {
  const { redirect } = await flow(provider);
  const code = redirect.searchParams.get('code');
  assert.ok(code, redirect.href);
  const res = await h.request('POST', `${P}/exchange`, { body: { code } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { accessToken: string; user: { id: string; email: string; emailVerified: boolean; displayName: string | null } };
}

/** Re-signs an ID token's payload (edited) with `secret`. */
function resign(edit: (p: JWTPayload) => JWTPayload, secret = LINE_CHANNEL_SECRET) {
  return async (idToken: string) =>
    new SignJWT(edit(decodeJwt(idToken)))
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(secret));
}

describe('LINE (OIDC, HS256 ID tokens signed with the channel secret)', () => {
  test('first sign-in creates the account from the ID token, the second finds it; client_secret_post, PKCE, nonce', async () => {
    const email = uniqueEmail('line');
    let seen: string | undefined;
    idp.behaviour.idToken = async (t) => (seen = t);
    const sub = account({ email, name: 'Line User' });
    const { authorize } = await flow('line').then(async (f) => ({ ...f, tokens: await h.request('POST', `${P}/exchange`, { body: { code: f.redirect.searchParams.get('code') } }) }));
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authorize.searchParams.get('nonce'));
    assert.equal(decodeProtectedHeader(seen!).alg, 'HS256', 'the stand-in signs with the channel secret');
    idp.behaviour.idToken = undefined;
    const first = await h.deps.db.admin.selectFrom('oauth_identities').selectAll().where('subject', '=', sub).executeTakeFirstOrThrow();
    assert.equal(first.provider, 'line');
    const again = await signIn('line');
    assert.equal(again.user.id, first.user_id, 'provider + subject find the same account');
    assert.equal(again.user.email, email);
    assert.equal(again.user.emailVerified, false, 'LINE does not assert the email verified');
    assert.equal(again.user.displayName, 'Line User');
    assert.deepEqual(decodeJwt(again.accessToken).amr, ['fed']);
    const ids = await h.deps.db.admin.selectFrom('oauth_identities').selectAll().where('subject', '=', sub).execute();
    assert.equal(ids.length, 1);
  });

  const refusals: Array<[string, (t: string) => Promise<string>]> = [
    [
      'a tampered payload (signature kept)',
      async (t) => {
        const [header, , signature] = t.split('.');
        const payload = Buffer.from(JSON.stringify({ ...decodeJwt(t), sub: 'Uattacker' })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['a token signed with another secret', resign((p) => p, 'not-the-channel-secret-0123456789abcdef')],
    ['another issuer (right secret)', resign((p) => ({ ...p, iss: 'https://access.line.me.evil.example' }))],
    ['another audience (right secret)', resign((p) => ({ ...p, aud: 'another-channel' }))],
    ['an expired token (right secret)', resign((p) => ({ ...p, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }))],
    ['another nonce (right secret)', resign((p) => ({ ...p, nonce: 'attacker-nonce' }))],
    [
      'an unsigned token (alg none)',
      async (t) => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${t.split('.')[1]}.`,
    ],
  ];
  for (const [name, rewrite] of refusals) {
    test(`refused with invalid_id_token: ${name}`, async () => {
      const sub = account({ email: uniqueEmail('line-bad') });
      idp.behaviour.idToken = rewrite;
      const { redirect } = await flow('line');
      assert.equal(redirect.origin + redirect.pathname, APP);
      assert.equal(redirect.searchParams.get('error'), 'invalid_id_token');
      assert.equal(redirect.searchParams.get('code'), null);
      const ids = await h.deps.db.admin.selectFrom('oauth_identities').select('id').where('subject', 'in', [sub, 'Uattacker']).execute();
      assert.equal(ids.length, 0, 'no account was created');
    });
  }

  test('refused with invalid_id_token: the authorization request carried another nonce', async () => {
    account({ email: uniqueEmail('line-nonce') });
    const { redirect } = await flow('line', (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce'));
    assert.equal(redirect.searchParams.get('error'), 'invalid_id_token');
  });

  test('an email that belongs to a password account: link_required (LINE does not assert it verified)', async () => {
    const r = await h.register();
    await h.deps.db.admin.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', r.userId).execute();
    account({ email: r.email });
    const { redirect } = await flow('line');
    assert.equal(redirect.searchParams.get('error'), 'link_required');
  });
});

describe('Facebook (OAuth 2.0, Graph /me?fields=id,name,email)', () => {
  test('first sign-in creates the account from the Graph profile, the second finds it', async () => {
    const email = uniqueEmail('fb');
    const sub = account({ email, name: 'Face Book' });
    const { authorize, redirect } = await flow('facebook');
    assert.equal(authorize.searchParams.get('scope'), 'email public_profile');
    assert.equal(authorize.searchParams.get('nonce'), null, 'no OIDC nonce for plain OAuth 2.0');
    const first = await h.request('POST', `${P}/exchange`, { body: { code: redirect.searchParams.get('code') } });
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().user.email, email);
    assert.equal(first.json().user.emailVerified, false, 'Facebook\'s email is not asserted verified');
    assert.equal(first.json().user.displayName, 'Face Book');
    const again = await signIn('facebook');
    assert.equal(again.user.id, first.json().user.id);
    const ids = await h.deps.db.admin.selectFrom('oauth_identities').selectAll().where('subject', '=', sub).execute();
    assert.deepEqual(ids.map((i) => i.provider), ['facebook']);
  });

  test('an email that belongs to a password account: link_required; no email: email_required', async () => {
    const r = await h.register();
    account({ email: r.email, name: 'Someone' });
    assert.equal((await flow('facebook')).redirect.searchParams.get('error'), 'link_required');
    account({ name: 'No Email' });
    assert.equal((await flow('facebook')).redirect.searchParams.get('error'), 'email_required');
  });

  test('a tampered PKCE challenge: invalid_grant', async () => {
    account({ email: uniqueEmail('fb-pkce') });
    const { redirect } = await flow('facebook', (u) => u.searchParams.set('code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'));
    assert.equal(redirect.searchParams.get('error'), 'invalid_grant');
  });
});
