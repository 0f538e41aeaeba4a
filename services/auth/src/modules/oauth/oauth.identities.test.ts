/**
 * Linked identities (`GET /auth/identities`, `DELETE /auth/identities/{provider}`): link
 * through the stand-in providers, list, unlink while another way to sign in remains, 409
 * `last_sign_in_method` otherwise; events through the outbox; another tenant's user sees none.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startAuth, uniqueEmail, type Harness } from '../../testing';
import { CLIENT_ID, CLIENT_SECRET, LINE_CHANNEL_ID, LINE_CHANNEL_SECRET, startIdp, type Idp } from './oauth.fixtures';

let h: Harness;
let idp: Idp;

const P = '/api/v1/auth/oauth';
const I = '/api/v1/auth/identities';
const APP = 'https://app.example.com/callback';
const PUBLIC = 'http://localhost:3000';

before(async () => {
  h = await startAuth({ PUBLIC_URL: PUBLIC });
  idp = await startIdp([`${PUBLIC}${P}/line/callback`, `${PUBLIC}${P}/oidc/callback`]);
  await h.deps.db.admin.updateTable('tenants').set({ settings: JSON.stringify({ redirectUris: [APP] }) }).where('id', '=', DEFAULT_TENANT_ID).execute();
  const adminToken = (await h.admin()).accessToken;
  const line = await h.request('PUT', '/api/v1/admin/oauth-providers/line', {
    token: adminToken,
    body: { clientId: LINE_CHANNEL_ID, clientSecret: LINE_CHANNEL_SECRET, issuer: idp.issuer, authorizationEndpoint: `${idp.issuer}/auth`, tokenEndpoint: `${idp.issuer}/token` },
  });
  assert.equal(line.statusCode, 200, line.body);
  const oidc = await h.request('PUT', '/api/v1/admin/oauth-providers/oidc', { token: adminToken, body: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, discoveryUrl: idp.issuer } });
  assert.equal(oidc.statusCode, 200, oidc.body);
});

after(async () => {
  await idp?.close();
  await h?.close();
});

function account(email: string): string {
  const sub = `S${randomBytes(8).toString('hex')}`;
  idp.accounts.set(sub, { email, email_verified: true, name: 'Linked' });
  idp.behaviour.account = sub;
  return sub;
}

/** Links the provider's current account to the token's user through the whole flow. */
async function link(token: string, provider: string) {
  const start = await h.request('POST', `${P}/${provider}/link/start`, { token, body: { redirectUri: APP } });
  assert.equal(start.statusCode, 200, start.body);
  const binding = start.cookies.find((c) => c.name === 'gatehouse_oauth')!.value;
  const back = await idp.drive(start.json().authorizationUrl);
  const res = await h.request('GET', back.pathname + back.search, { cookies: { gatehouse_oauth: binding } });
  return new URL(String(res.headers.location));
}

/** Signs in through a provider: a new federated account (no password). */
async function socialSignIn(provider: string) {
  const s = await h.request('GET', `${P}/${provider}/start`, { query: { redirectUri: APP } });
  const binding = s.cookies.find((c) => c.name === 'gatehouse_oauth')!.value;
  const back = await idp.drive(String(s.headers.location));
  const res = await h.request('GET', back.pathname + back.search, { cookies: { gatehouse_oauth: binding } });
  const code = new URL(String(res.headers.location)).searchParams.get('code');
  assert.ok(code, String(res.headers.location));
  const tokens = await h.request('POST', `${P}/exchange`, { body: { code } });
  assert.equal(tokens.statusCode, 200, tokens.body);
  return tokens.json() as { accessToken: string; user: { id: string } };
}

describe('linked identities', () => {
  test('a password account links LINE and lists it; unlinking keeps the password; the identity then signs in nobody', async () => {
    const r = await h.register();
    const empty = await h.request('GET', I, { token: r.accessToken });
    assert.equal(empty.statusCode, 200, empty.body);
    assert.deepEqual(empty.json(), { items: [], password: true, passkeys: 0 });

    const email = uniqueEmail('linked');
    account(email);
    const linked = await link(r.accessToken, 'line');
    assert.equal(linked.searchParams.get('linked'), 'line', linked.href);
    const list = (await h.request('GET', I, { token: r.accessToken })).json();
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0].provider, 'line');
    assert.equal(list.items[0].name, 'LINE');
    assert.equal(list.items[0].email, email);
    assert.ok(!Number.isNaN(Date.parse(list.items[0].linkedAt)));

    const del = await h.request('DELETE', `${I}/line`, { token: r.accessToken });
    assert.equal(del.statusCode, 204, del.body);
    assert.deepEqual((await h.request('GET', I, { token: r.accessToken })).json().items, []);
    const events = (await h.outbox()).filter((e) => e.subject === 'auth.events.oauth_unlinked' && e.event.subject === r.userId);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event.data.method, 'oauth:line');
    const again = await h.request('DELETE', `${I}/line`, { token: r.accessToken });
    assert.equal(again.statusCode, 404);
    assert.equal(again.json().code, 'identity_not_found');
    assert.equal((await h.request('DELETE', `${I}/myspace`, { token: r.accessToken })).json().code, 'identity_not_found');
  });

  test('an account made by a social sign-in: its only identity cannot be unlinked (409), a second one can, then the first is last again', async () => {
    account(uniqueEmail('fedonly'));
    const fed = await socialSignIn('oidc');
    const list = (await h.request('GET', I, { token: fed.accessToken })).json();
    assert.deepEqual({ ...list, items: list.items.map((i: { provider: string }) => i.provider) }, { items: ['oidc'], password: false, passkeys: 0 });
    const refused = await h.request('DELETE', `${I}/oidc`, { token: fed.accessToken });
    assert.equal(refused.statusCode, 409);
    assert.match(String(refused.headers['content-type']), /application\/problem\+json/);
    assert.equal(refused.json().code, 'last_sign_in_method');

    account(uniqueEmail('second'));
    assert.equal((await link(fed.accessToken, 'line')).searchParams.get('linked'), 'line');
    assert.equal((await h.request('DELETE', `${I}/oidc`, { token: fed.accessToken })).statusCode, 204, 'LINE remains');
    assert.equal((await h.request('DELETE', `${I}/line`, { token: fed.accessToken })).json().code, 'last_sign_in_method');
  });

  test('a passkey counts as another way to sign in', async () => {
    account(uniqueEmail('pk'));
    const fed = await socialSignIn('oidc');
    await h.deps.db.admin
      .insertInto('passkeys')
      .values({ id: randomUUID(), tenant_id: DEFAULT_TENANT_ID, user_id: fed.user.id, credential_id: randomBytes(16).toString('base64url'), public_key: randomBytes(77), device_type: 'singleDevice' })
      .execute();
    assert.equal((await h.request('GET', I, { token: fed.accessToken })).json().passkeys, 1);
    assert.equal((await h.request('DELETE', `${I}/oidc`, { token: fed.accessToken })).statusCode, 204);
  });

  test('two unlinks at once cannot leave the account without a way to sign in', async () => {
    account(uniqueEmail('race'));
    const fed = await socialSignIn('oidc');
    account(uniqueEmail('race2'));
    assert.equal((await link(fed.accessToken, 'line')).searchParams.get('linked'), 'line');
    const [a, b] = await Promise.all([h.request('DELETE', `${I}/oidc`, { token: fed.accessToken }), h.request('DELETE', `${I}/line`, { token: fed.accessToken })]);
    assert.deepEqual([a.statusCode, b.statusCode].sort(), [204, 409]);
    assert.equal((await h.request('GET', I, { token: fed.accessToken })).json().items.length, 1);
  });

  test('without a token: 401; another tenant\'s user sees only its own (none)', async () => {
    assert.equal((await h.request('GET', I)).statusCode, 401);
    assert.equal((await h.request('DELETE', `${I}/line`)).statusCode, 401);
    const t = await h.createTenant();
    const other = await h.register({ tenant: t.id });
    const list = await h.request('GET', I, { token: other.accessToken, tenant: t.id });
    assert.deepEqual(list.json(), { items: [], password: true, passkeys: 0 });
    assert.equal((await h.request('DELETE', `${I}/oidc`, { token: other.accessToken, tenant: t.id })).statusCode, 404);
  });
});
