/**
 * Gatehouse as an OpenID Connect provider (issue 11), end to end through the gateway on real
 * HTTP with openid-client as the relying party: discovery per tenant, client_credentials
 * with a resource (JWT access token, aud, one JWKS), introspection and revocation, the admin
 * API of applications and resources, tenant isolation; then code + PKCE through the hosted
 * login's endpoints, ID token and userinfo, refresh rotation and reuse, prompt=none, and the
 * revocation triggers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { BASE_DOMAIN, eventually, startTestSystem, type TestSystem } from '../system';
import { call, ndjson } from '../client';
import { totpAt } from '../../../services/auth/src/modules/mfa/mfa.totp';
import { browser, discover, fetchVia, issuerOf } from './fixtures';

/** The tenant's audit entries of `type` (NDJSON export), as its admin. */
async function auditEntriesOfType(base: string, token: string, type: string, o: { host: string }) {
  const r = await call<string>(base, 'GET', `/api/v1/audit/events?type=${encodeURIComponent(type)}&format=ndjson`, { token, host: o.host });
  if (r.status !== 200) throw new Error(`audit export: ${r.status} ${r.text}`);
  return ndjson(r.text);
}

/** Waits for an OAuth error answer with this `error` code. */
async function rejectsWith(p: Promise<unknown>, code: string, label?: string): Promise<void> {
  await assert.rejects(p, (err: { error?: string; cause?: unknown }) => {
    // an error answer in the body, or (client authentication) in WWW-Authenticate
    const challenge = Array.isArray(err.cause) ? (err.cause[0] as { parameters?: { error?: string } }).parameters?.error : undefined;
    assert.equal(err.error ?? challenge, code, `${label ?? ''} ${String(err)}`);
    return true;
  });
}

const AUD = 'https://api.example.test/orders';
const CALLBACK = 'https://app.example.test/callback';

describe('OpenID Connect provider', () => {
  let s: TestSystem;
  let a: Awaited<ReturnType<TestSystem['createTenant']>>;
  let b: Awaited<ReturnType<TestSystem['createTenant']>>;
  let m2m: { clientId: string; clientSecret: string; id: string };
  let web: { clientId: string; clientSecret: string; id: string };

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    [a, b] = await Promise.all([s.createTenant(), s.createTenant()]);
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
    m2m = app.body;
    const w = await s.request('POST', '/api/v1/admin/applications', {
      tenant: a.slug,
      token: a.admin!.accessToken,
      body: { name: 'Shop', type: 'web', redirectUris: [CALLBACK], postLogoutRedirectUris: ['https://app.example.test/bye'] },
    });
    assert.equal(w.status, 201, w.text);
    web = w.body;
  });
  after(async () => {
    await s?.close();
  });

  test('discovery names the tenant\'s issuer and the endpoints; JWKS is the service\'s one key set', async () => {
    const config = await discover(s, a.slug, m2m.clientId, m2m.clientSecret);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuerOf(s, a.slug));
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint', 'pushed_authorization_request_endpoint', 'device_authorization_endpoint'] as const) {
      assert.ok(meta[k], `${k} is published`);
    }
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    const oidcJwks = { body: JSON.parse((await s.request('GET', '/oidc/jwks', { tenant: a.slug })).text) as { keys: Array<{ kid: string; d?: string }> } };
    const gatehouseJwks = await s.request('GET', '/.well-known/jwks.json');
    assert.deepEqual(
      oidcJwks.body.keys.map((k: { kid: string }) => k.kid).sort(),
      gatehouseJwks.body.keys.map((k: { kid: string }) => k.kid).sort(),
    );
    for (const k of oidcJwks.body.keys) assert.equal(k.d, undefined, 'no private part is published');
  });

  test('client_credentials with a resource: a JWT access token (at+jwt) whose aud is the resource; introspection and revocation', async () => {
    const config = await discover(s, a.slug, m2m.clientId, m2m.clientSecret);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read', resource: AUD });
    assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
    const jwks = JSON.parse((await s.request('GET', '/oidc/jwks', { tenant: a.slug })).text) as { keys: [] };
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), { issuer: issuerOf(s, a.slug), audience: AUD, typ: 'at+jwt' });
    assert.equal(payload.client_id, m2m.clientId);
    assert.equal(payload.scope, 'orders:read');

    const active = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(active.active, true);
    assert.equal(active.aud, AUD);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);

    // a resource the application may not use, and a scope the resource does not have
    await rejectsWith(client.clientCredentialsGrant(config, { scope: 'orders:read', resource: 'https://api.example.test/other' }), 'invalid_target');
  });

  test('signing-key rotation: new tokens use the new key, older ones still verify (one JWKS); expired rows are purged', async () => {
    const config = await discover(s, a.slug, m2m.clientId, m2m.clientSecret);
    const before = (await client.clientCredentialsGrant(config, { scope: 'orders:read', resource: AUD })).access_token;
    const kid = await s.services.auth.deps.keys.rotate();
    const after = (await client.clientCredentialsGrant(config, { scope: 'orders:read', resource: AUD })).access_token;
    assert.equal(decodeProtectedHeader(after).kid, kid);
    assert.notEqual(decodeProtectedHeader(before).kid, kid);
    const jwks = createLocalJWKSet(JSON.parse((await s.request('GET', '/oidc/jwks', { tenant: a.slug })).text) as { keys: [] });
    for (const token of [before, after]) await jwtVerify(token, jwks, { issuer: issuerOf(s, a.slug), audience: AUD });
    assert.equal((await client.tokenIntrospection(config, before)).active, true);

    // the purge deletes the provider's expired rows (here: the first token's, made expired)
    const db = s.services.auth.deps.db.admin;
    const jti = JSON.parse(Buffer.from(before.split('.')[1]!, 'base64url').toString()).jti as string;
    await db.updateTable('oidc_payloads').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', jti).execute();
    assert.equal((await client.tokenIntrospection(config, before)).active, false, 'expired rows are not found');
    const report = await s.services.auth.deps.purger.runOnce();
    assert.ok(JSON.stringify(report).includes('auth.oidc_payloads'), JSON.stringify(report));
    assert.equal((await db.selectFrom('oidc_payloads').select('id').where('id', '=', jti).execute()).length, 0);
  });

  test('client authentication: a wrong secret, a rotated secret, another tenant\'s issuer all fail with invalid_client', async () => {
    const wrong = await discover(s, a.slug, m2m.clientId, 'ghs_not-the-secret');
    await rejectsWith(client.clientCredentialsGrant(wrong, { resource: AUD, scope: 'orders:read' }), 'invalid_client');
    const elsewhere = await discover(s, b.slug, m2m.clientId, m2m.clientSecret);
    await rejectsWith(client.clientCredentialsGrant(elsewhere, { resource: AUD, scope: 'orders:read' }), 'invalid_client');

    // tenant A's token introspected by a client of tenant B: inactive
    const good = await discover(s, a.slug, m2m.clientId, m2m.clientSecret);
    const token = (await client.clientCredentialsGrant(good, { resource: AUD, scope: 'orders:read' })).access_token;
    const bApp = await s.request('POST', '/api/v1/admin/applications', { tenant: b.slug, token: b.admin!.accessToken, body: { name: 'B worker', type: 'm2m' } });
    assert.equal(bApp.status, 201, bApp.text);
    const bConfig = await discover(s, b.slug, bApp.body.clientId, bApp.body.clientSecret);
    assert.equal((await client.tokenIntrospection(bConfig, token)).active, false);

    // a new secret: the old one stops working, the new one works
    const rotated = await s.request('POST', `/api/v1/admin/applications/${bApp.body.id}/secret`, { tenant: b.slug, token: b.admin!.accessToken, body: {} });
    assert.equal(rotated.status, 200, rotated.text);
    await rejectsWith(client.clientCredentialsGrant(bConfig, {}), 'invalid_client');
    const fresh = await discover(s, b.slug, bApp.body.clientId, rotated.body.clientSecret);
    assert.ok((await client.clientCredentialsGrant(fresh, {})).access_token);
  });

  test('private_key_jwt and client_secret_post client authentication', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'worker-key', alg: 'ES256', use: 'sig' };
    const pk = await s.request('POST', '/api/v1/admin/applications', {
      tenant: a.slug,
      token: a.admin!.accessToken,
      body: { name: 'Signed worker', type: 'm2m', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, resources: [AUD] },
    });
    assert.equal(pk.status, 201, pk.text);
    assert.equal(pk.body.tokenEndpointAuthMethod, 'private_key_jwt');
    const fetchImpl = fetchVia(s.url);
    const signed = await client.discovery(new URL(issuerOf(s, a.slug)), pk.body.clientId, {}, client.PrivateKeyJwt({ key: privateKey, kid: 'worker-key' }), {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: fetchImpl,
    });
    signed[client.customFetch] = fetchImpl;
    const token = await client.clientCredentialsGrant(signed, { resource: AUD, scope: 'orders:read' });
    assert.equal(decodeProtectedHeader(token.access_token).typ, 'at+jwt');
    // the secret alone does not do for a private_key_jwt client
    const bySecret = await discover(s, a.slug, pk.body.clientId, pk.body.clientSecret);
    await rejectsWith(client.clientCredentialsGrant(bySecret, { resource: AUD, scope: 'orders:read' }), 'invalid_client');

    const post = await s.request('POST', '/api/v1/admin/applications', { tenant: a.slug, token: a.admin!.accessToken, body: { name: 'Post worker', type: 'm2m', tokenEndpointAuthMethod: 'client_secret_post' } });
    assert.equal(post.status, 201, post.text);
    const byPost = await client.discovery(new URL(issuerOf(s, a.slug)), post.body.clientId, {}, client.ClientSecretPost(post.body.clientSecret), {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: fetchImpl,
    });
    byPost[client.customFetch] = fetchImpl;
    assert.ok((await client.clientCredentialsGrant(byPost, {})).access_token);
  });

  test('admin API: secrets shown once, redirect URI rules, resources, tenant isolation, events', async () => {
    const token = a.admin!.accessToken;
    const list = await s.request('GET', '/api/v1/admin/applications', { tenant: a.slug, token });
    assert.equal(list.status, 200);
    assert.ok(list.body.items.length >= 2);
    assert.ok(!list.text.includes('ghs_'), 'no secret in the listing');
    assert.equal(list.body.items[0].issuer, issuerOf(s, a.slug));

    for (const uri of ['https://app.example.test/cb#frag', 'http://app.example.test/cb', 'not a url']) {
      const r = await s.request('POST', '/api/v1/admin/applications', { tenant: a.slug, token, body: { name: 'x', type: 'web', redirectUris: [uri] } });
      assert.equal(r.status, 400, uri);
      assert.equal(r.body.code, 'invalid_redirect_uri', uri);
    }
    const loopback = await s.request('POST', '/api/v1/admin/applications', { tenant: a.slug, token, body: { name: 'cli', type: 'native', redirectUris: ['http://127.0.0.1:8765/cb'] } });
    assert.equal(loopback.status, 201, loopback.text);
    assert.equal(loopback.body.clientSecret, undefined, 'public clients have no secret');

    const unknownResource = await s.request('POST', '/api/v1/admin/applications', { tenant: a.slug, token, body: { name: 'x', type: 'm2m', resources: ['https://nope.example.test'] } });
    assert.equal(unknownResource.status, 400);
    const dup = await s.request('POST', '/api/v1/admin/resources', { tenant: a.slug, token, body: { name: 'again', audience: AUD, scopes: [] } });
    assert.equal(dup.status, 409);

    // tenant B's admin sees none of tenant A's applications
    const other = await s.request('GET', `/api/v1/admin/applications/${m2m.id}`, { tenant: b.slug, token: b.admin!.accessToken });
    assert.equal(other.status, 404);
    // users are not admins
    const user = await s.register({ tenant: a.slug });
    assert.equal((await s.request('GET', '/api/v1/admin/applications', { tenant: a.slug, token: user.accessToken })).status, 403);

    // disabling: unknown to the provider
    const patched = await s.request('PATCH', `/api/v1/admin/applications/${loopback.body.id}`, { tenant: a.slug, token, body: { disabled: true, name: 'cli 2' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.disabled, true);
    assert.equal((await s.request('DELETE', `/api/v1/admin/applications/${loopback.body.id}`, { tenant: a.slug, token })).status, 204);
    assert.equal((await s.request('GET', `/api/v1/admin/applications/${loopback.body.id}`, { tenant: a.slug, token })).status, 404);

    // events through the outbox, never a secret
    const rows = await s.services.auth.deps.db.admin.selectFrom('outbox').select(['subject', 'payload']).where('subject', 'like', '%application.events.%').execute();
    const types = new Set(rows.map((r) => r.subject.slice(r.subject.indexOf('application.events.'))));
    for (const t of ['application.events.created', 'application.events.updated', 'application.events.deleted']) assert.ok(types.has(t), t);
    assert.ok(!JSON.stringify(rows).includes('ghs_'), 'no secret in an event');
    // ... and into the tenant's audit trail
    await eventually(async () => {
      const entries = await auditEntriesOfType(s.url, a.admin!.accessToken, 'application.events.*', { host: `${a.slug}.${s.baseDomain}` });
      assert.ok(entries.some((e: { type: string }) => e.type === 'application.events.deleted'), JSON.stringify(entries).slice(0, 300));
    });
  });

  test('authorization code + PKCE through the hosted login: ID token, userinfo, consent remembered, prompt=none, refresh rotation, reuse revokes', async () => {
    const user = await s.register({ tenant: a.slug });
    const config = await discover(s, a.slug, web.clientId, web.clientSecret);
    const nav = browser(s, a.slug);
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      state,
      prompt: 'consent',
    });
    const landed = await nav.signIn(url.href, user.accessToken);
    assert.ok(landed.startsWith(CALLBACK), landed);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, user.id);
    assert.equal(claims.iss, issuerOf(s, a.slug));
    assert.deepEqual(claims.amr, ['pwd']);
    assert.ok(claims.auth_time);
    const info = await client.fetchUserInfo(config, tokens.access_token, user.id);
    assert.equal(info.email, user.email);
    assert.equal(info.email_verified, false);
    assert.ok(tokens.refresh_token);

    // a pushed authorization request (RFC 9126) works the same way
    const vPar = client.randomPKCECodeVerifier();
    const parUrl = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(vPar),
      code_challenge_method: 'S256',
      state: 'par',
    });
    assert.ok(parUrl.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'));
    const parTokens = await client.authorizationCodeGrant(config, new URL(await nav.signIn(parUrl.href, user.accessToken)), { pkceCodeVerifier: vPar, expectedState: 'par' });
    assert.equal(parTokens.claims()!.sub, user.id);

    // a code used twice: refused, and the tokens issued from it are revoked
    await rejectsWith(client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state }), 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    await rejectsWith(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant');

    // consent is remembered: "connected apps" lists it
    const consents = await s.request('GET', '/api/v1/auth/consents', { tenant: a.slug, token: user.accessToken });
    assert.equal(consents.status, 200);
    assert.deepEqual(consents.body.items.map((c: { applicationId: string }) => c.applicationId), [web.id]);

    // prompt=none while signed in at the provider: a code without a page
    const v2 = client.randomPKCECodeVerifier();
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(v2),
      code_challenge_method: 'S256',
      prompt: 'none',
      state: 'silent',
    });
    const silentLanding = await nav.follow(silent.href);
    assert.ok(new URL(silentLanding).searchParams.get('code'), silentLanding);
    const silentTokens = await client.authorizationCodeGrant(config, new URL(silentLanding), { pkceCodeVerifier: v2, expectedState: 'silent' });
    assert.equal(silentTokens.claims()!.sub, user.id);
    // and login_required with a fresh browser
    const stranger = browser(s, a.slug);
    const refused = new URL(await stranger.follow(silent.href));
    assert.equal(refused.searchParams.get('error'), 'login_required');

    // refresh rotation (a new sign-in's refresh token); the old one presented again revokes the grant
    const v3 = client.randomPKCECodeVerifier();
    const again = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(v3),
      code_challenge_method: 'S256',
      prompt: 'consent',
      state: 'again',
    });
    const fresh = await client.authorizationCodeGrant(config, new URL(await nav.signIn(again.href, user.accessToken)), { pkceCodeVerifier: v3, expectedState: 'again' });
    const rotated = await client.refreshTokenGrant(config, fresh.refresh_token!);
    assert.ok(rotated.refresh_token && rotated.refresh_token !== fresh.refresh_token);
    assert.equal((await client.tokenIntrospection(config, rotated.access_token)).active, true);
    await rejectsWith(client.refreshTokenGrant(config, fresh.refresh_token!), 'invalid_grant');
    await rejectsWith(client.refreshTokenGrant(config, rotated.refresh_token!), 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, rotated.access_token)).active, false);
  });

  test('a user signed in with a second factor: amr and acr of the ID token show it', async () => {
    const user = await s.register({ tenant: a.slug });
    const setup = await s.request('POST', '/api/v1/auth/mfa/totp/setup', { tenant: a.slug, token: user.accessToken });
    assert.equal(setup.status, 200, setup.text);
    const confirm = await s.request('POST', '/api/v1/auth/mfa/totp/confirm', { tenant: a.slug, token: user.accessToken, body: { code: totpAt(setup.body.secret, Date.now()) } });
    assert.equal(confirm.status, 200, confirm.text);
    const first = await s.request('POST', '/api/v1/auth/login', { tenant: a.slug, body: { email: user.email, password: user.password } });
    assert.equal(first.body.mfaRequired, true, first.text);
    const done = await s.request('POST', '/api/v1/auth/login/mfa', { tenant: a.slug, body: { mfaToken: first.body.mfaToken, code: totpAt(setup.body.secret, Date.now() + 30_000) } });
    assert.equal(done.status, 200, done.text);

    const config = await discover(s, a.slug, web.clientId, web.clientSecret);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'mfa',
    });
    const landed = await browser(s, a.slug).signIn(url.href, done.body.accessToken);
    const claims = (await client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedState: 'mfa' })).claims()!;
    assert.deepEqual(claims.amr, ['pwd', 'otp']);
    assert.equal(claims.acr, 'urn:gatehouse:loa:2');
  });

  test('prompt=login asks for a fresh Gatehouse sign-in; a refused consent answers access_denied', async () => {
    const user = await s.register({ tenant: a.slug });
    const config = await discover(s, a.slug, web.clientId, web.clientSecret);
    const nav = browser(s, a.slug);
    const authUrl = async (params: Record<string, string>) =>
      client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: 'st',
        ...params,
      }).href;

    // the user refuses: the application gets access_denied
    const refused = new URL(await nav.signIn(await authUrl({}), user.accessToken, { consent: false }));
    assert.equal(refused.searchParams.get('error'), 'access_denied');
    assert.equal(refused.searchParams.get('code'), null);
    const accepted = new URL(await nav.signIn(await authUrl({ prompt: 'consent' }), user.accessToken));
    assert.ok(accepted.searchParams.get('code'));

    // the Gatehouse sign-in is an hour old: prompt=login refuses it, a fresh one is accepted
    await s.services.auth.deps.db.admin.updateTable('sessions').set({ created_at: new Date(Date.now() - 3600_000) }).where('user_id', '=', user.id).execute();
    const at = new URL(await nav.follow(await authUrl({ prompt: 'login' })));
    const uid = at.pathname.split('/').pop()!;
    assert.equal((await nav.go('GET', `/oidc/interaction/${uid}/details`)).json().prompt, 'login');
    const stale = await nav.go('POST', `/oidc/interaction/${uid}/login`, { token: user.accessToken, body: {} });
    assert.equal(stale.status, 409);
    assert.equal(stale.json().code, 'reauthentication_required');
    const fresh = await s.login(user.email, user.password, { tenant: a.slug });
    const ok = await nav.go('POST', `/oidc/interaction/${uid}/login`, { token: fresh.accessToken, body: {} });
    assert.equal(ok.status, 200, ok.text);
    const landed = new URL(await nav.follow(String(ok.json().redirectTo)));
    assert.ok(landed.searchParams.get('code'), landed.href);
  });

  test('max_age: a sign-in older than max_age forces a fresh one, and the ID token\'s auth_time honours it', async () => {
    const user = await s.register({ tenant: a.slug });
    const config = await discover(s, a.slug, web.clientId, web.clientSecret);
    const nav = browser(s, a.slug);
    const start = async (params: Record<string, string>) => {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'ma',
        ...params,
      }).href;
      return { verifier, url };
    };
    // the Gatehouse sign-in is two minutes old when the application first signs the user in
    const signedInAt = new Date(Date.now() - 120_000);
    await s.services.auth.deps.db.admin.updateTable('sessions').set({ created_at: signedInAt }).where('user_id', '=', user.id).execute();
    const first = await start({});
    const landed = await nav.signIn(first.url, user.accessToken);
    const firstTokens = await client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: first.verifier, expectedState: 'ma' });
    assert.equal(firstTokens.claims()!.auth_time, Math.floor(signedInAt.getTime() / 1000));

    // max_age longer than that: single sign-on, a code without any page, the same auth_time
    const relaxed = await start({ max_age: '3600' });
    const code = new URL(await nav.follow(relaxed.url));
    assert.ok(code.searchParams.get('code'), code.href);
    const relaxedTokens = await client.authorizationCodeGrant(config, code, { pkceCodeVerifier: relaxed.verifier, expectedState: 'ma', maxAge: 3600 });
    assert.equal(relaxedTokens.claims()!.auth_time, Math.floor(signedInAt.getTime() / 1000));

    // max_age shorter than the sign-in's age: the login step again, and the two-minute-old
    // Gatehouse sign-in is refused (it is younger than prompt=login's five minutes, but older than max_age)
    const strict = await start({ max_age: '60' });
    const at = new URL(await nav.follow(strict.url));
    assert.match(at.pathname, /^\/oidc\/interaction\//, at.href);
    const uid = at.pathname.split('/').pop()!;
    const details = (await nav.go('GET', `/oidc/interaction/${uid}/details`)).json();
    assert.equal(details.prompt, 'login');
    assert.ok((details.reasons as string[]).includes('max_age'), JSON.stringify(details.reasons));
    const stale = await nav.go('POST', `/oidc/interaction/${uid}/login`, { token: user.accessToken, body: {} });
    assert.equal(stale.status, 409, stale.text);
    assert.equal(stale.json().code, 'reauthentication_required');

    // a fresh Gatehouse sign-in is accepted; auth_time is that sign-in's, within max_age
    const before = Math.floor(Date.now() / 1000);
    const fresh = await s.login(user.email, user.password, { tenant: a.slug });
    const ok = await nav.go('POST', `/oidc/interaction/${uid}/login`, { token: fresh.accessToken, body: {} });
    assert.equal(ok.status, 200, ok.text);
    const back = new URL(await nav.follow(String(ok.json().redirectTo)));
    assert.ok(back.searchParams.get('code'), back.href);
    // openid-client itself checks auth_time against max_age (maxAge)
    const strictTokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: strict.verifier, expectedState: 'ma', maxAge: 60 });
    const authTime = strictTokens.claims()!.auth_time!;
    assert.ok(authTime >= before && authTime <= Math.ceil(Date.now() / 1000), `auth_time ${authTime}, fresh sign-in at ${before}`);
  });

  test('signing out of Gatehouse ends the applications\' grants: refresh fails, introspection inactive', async () => {
    for (const trigger of ['logout', 'logout-all', 'session-revoke', 'password-change', 'consent-revoke', 'admin-disable', 'admin-delete'] as const) {
      const user = await s.register({ tenant: a.slug });
      const config = await discover(s, a.slug, web.clientId, web.clientSecret);
      const nav = browser(s, a.slug);
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        prompt: 'consent',
        state: 'x',
      });
      const landed = await nav.signIn(url.href, user.accessToken);
      const tokens = await client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedState: 'x' });
      assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, true);

      const t = { tenant: a.slug, token: user.accessToken };
      const asAdmin = { tenant: a.slug, token: a.admin!.accessToken };
      const sidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
      const triggers = {
        logout: () => s.request('POST', '/api/v1/auth/logout', { ...t, body: {} }),
        'logout-all': () => s.request('POST', '/api/v1/auth/logout-all', { ...t, body: {} }),
        'session-revoke': async () => s.request('DELETE', `/api/v1/auth/sessions/${sidOf((await s.login(user.email, user.password, { tenant: a.slug })).accessToken)}`, t),
        'password-change': () => s.request('POST', '/api/v1/auth/password/change', { ...t, body: { currentPassword: user.password, newPassword: `${user.password} and more` } }),
        'consent-revoke': () => s.request('DELETE', `/api/v1/auth/consents/${web.id}`, t),
        'admin-disable': () => s.request('PATCH', `/api/v1/admin/users/${user.id}`, { ...asAdmin, body: { disabled: true } }),
        'admin-delete': () => s.request('DELETE', `/api/v1/admin/users/${user.id}`, asAdmin),
      };
      const r = await triggers[trigger]();
      assert.ok(r.status < 300, `${trigger}: ${r.status} ${r.text}`);
      // at once: the grant rows go in the transaction that revokes the sessions
      assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false, trigger);
      await rejectsWith(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', trigger);
    }

    // the oauth events reached the outbox, with ids only (never a token or a secret)
    const db = s.services.auth.deps.db.admin;
    await eventually(async () => {
      const rows = await db.selectFrom('outbox').select(['subject', 'payload']).where('subject', 'like', '%oauth.events.%').execute();
      const types = new Set(rows.map((r) => r.subject.slice(r.subject.indexOf('oauth.events.'))));
      for (const type of ['oauth.events.token_issued', 'oauth.events.consent_granted', 'oauth.events.consent_revoked', 'oauth.events.grant_revoked']) assert.ok(types.has(type), type);
      assert.doesNotMatch(JSON.stringify(rows), /eyJ|ghs_/);
    });
  });
});
