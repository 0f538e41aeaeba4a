/**
 * Gatehouse as an OpenID Connect provider (issue 11), its clients: end to end through the
 * gateway on real HTTP with openid-client as the relying party: discovery per tenant,
 * client_credentials with a resource (JWT access token, aud, one JWKS), signing-key rotation,
 * introspection and revocation, client authentication methods, the admin API of applications
 * and resources, tenant isolation. The user-facing flows (code + PKCE, ID token, refresh,
 * prompt, max_age, revocation triggers) are in provider.code.test.ts; the shared set-up in
 * provider.fixtures.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { eventually, type TestSystem } from '../system';
import { call, ndjson } from '../client';
import { discover, fetchVia, issuerOf } from './fixtures';
import { AUD, rejectsWith, startProviderSuite, type Application, type Tenant } from './provider.fixtures';

/** The tenant's audit entries of `type` (NDJSON export), as its admin. */
async function auditEntriesOfType(base: string, token: string, type: string, o: { host: string }) {
  const r = await call<string>(base, 'GET', `/api/v1/audit/events?type=${encodeURIComponent(type)}&format=ndjson`, { token, host: o.host });
  if (r.status !== 200) throw new Error(`audit export: ${r.status} ${r.text}`);
  return ndjson(r.text);
}


describe('OpenID Connect provider: clients, keys, admin API', () => {
  let s: TestSystem;
  let a: Tenant;
  let b: Tenant;
  let m2m: Application;

  before(async () => {
    ({ s, a, b, m2m } = await startProviderSuite());
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
});
