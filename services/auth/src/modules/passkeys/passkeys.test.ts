/** Passkey endpoints without a browser: options, RP id choice, refusals. The browser flow is in passkeys.browser.test.ts. */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuth, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth({ PUBLIC_URL: 'http://localhost:3000', BASE_DOMAIN: 'localhost' });
});
after(async () => {
  await h.close();
});

const P = '/api/v1/auth/passkeys';

/** A response-shaped body whose clientDataJSON names `challenge`. */
function fakeCredential(challenge: string) {
  const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: 'http://localhost:3000' })).toString('base64url');
  return { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON, authenticatorData: 'AAAA', signature: 'AAAA' }, clientExtensionResults: {} };
}

describe('passkey options and refusals', () => {
  test('registration options: signed-in only; discoverable credential, RP id from PUBLIC_URL, or the tenant host for a browser on it', async () => {
    const anon = await h.request('POST', `${P}/register/options`);
    assert.equal(anon.statusCode, 401);
    const r = await h.register();
    const res = await h.request('POST', `${P}/register/options`, { token: r.accessToken });
    assert.equal(res.statusCode, 200);
    const o = res.json();
    assert.equal(o.rp.id, 'localhost');
    assert.equal(o.user.name, r.email);
    assert.equal(o.authenticatorSelection.residentKey, 'required');
    assert.ok(typeof o.challenge === 'string' && o.challenge.length >= 22);
    const t = await h.createTenant();
    const tr = await h.register({ tenant: t.id });
    const onTenantHost = await h.request('POST', `${P}/register/options`, {
      token: tr.accessToken,
      tenant: t.id,
      headers: { origin: `http://${t.slug}.localhost:3000` },
    });
    assert.equal(onTenantHost.json().rp.id, `${t.slug}.localhost`);
    const foreignOrigin = await h.request('POST', `${P}/register/options`, { token: tr.accessToken, tenant: t.id, headers: { origin: `http://evil.example` } });
    assert.equal(foreignOrigin.json().rp.id, 'localhost', 'an unknown origin does not choose the RP id');
  });

  test('an answer to an unknown or already used challenge is refused; malformed bodies are 400', async () => {
    const opts = (await h.request('POST', `${P}/login/options`)).json();
    assert.equal(opts.rpId, 'localhost');
    assert.equal(opts.userVerification, 'preferred');
    const unknown = await h.request('POST', `${P}/login/verify`, { body: { response: fakeCredential('not-a-challenge-we-gave') } });
    assert.equal(unknown.statusCode, 401);
    assert.equal(unknown.json().code, 'invalid_credentials');
    const forged = await h.request('POST', `${P}/login/verify`, { body: { response: fakeCredential(opts.challenge) } });
    assert.equal(forged.statusCode, 401, 'an unknown credential with a live challenge');
    const reused = await h.request('POST', `${P}/login/verify`, { body: { response: fakeCredential(opts.challenge) } });
    assert.equal(reused.statusCode, 401, 'the challenge is gone after one use');
    const regOpts = await h.register();
    const reg = await h.request('POST', `${P}/register/verify`, { token: regOpts.accessToken, body: { response: fakeCredential('nope') } });
    assert.equal(reg.statusCode, 400);
    assert.equal(reg.json().code, 'invalid_passkey');
    for (const body of [{}, { response: 'x' }, { response: { id: 'a', rawId: 'a', type: 'password', response: {} } }]) {
      const res = await h.request('POST', `${P}/login/verify`, { body });
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().code, 'validation_failed');
    }
  });

  test('list is empty for a new user; deleting an unknown or foreign passkey is 404', async () => {
    const r = await h.register();
    const list = await h.request('GET', P, { token: r.accessToken });
    assert.deepEqual(list.json(), { items: [] });
    const del = await h.request('DELETE', `${P}/${crypto.randomUUID()}`, { token: r.accessToken });
    assert.equal(del.statusCode, 404);
    const bad = await h.request('DELETE', `${P}/not-a-uuid`, { token: r.accessToken });
    assert.equal(bad.statusCode, 400);
  });
});
