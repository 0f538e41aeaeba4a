import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, decodeProtectedHeader, generateKeyPair, createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createTokenVerifier } from '@gatehouse/platform/auth';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { startAuth, type Harness } from '../../testing';

let h: Harness;
before(async () => {
  h = await startAuth();
});
after(async () => {
  await h.close();
});

async function jwks(): Promise<JSONWebKeySet> {
  const res = await h.request('GET', '/.well-known/jwks.json', { tenant: null });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['cache-control']), /max-age=\d+/);
  return res.json() as JSONWebKeySet;
}

describe('signing keys', () => {
  test('JWKS serves the current public key (no private parts) and it verifies issued tokens', async () => {
    const set = await jwks();
    const current = set.keys.find((k) => k.kid === h.deps.keys.currentKid());
    assert.ok(current);
    assert.equal(current.alg, h.config.tokens.algorithm);
    assert.equal(current.use, 'sig');
    for (const k of set.keys) for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal((k as Record<string, unknown>)[priv], undefined);
    const r = await h.register();
    const { payload } = await jwtVerify(r.accessToken, createLocalJWKSet(set), { issuer: h.config.tokens.issuer, audience: h.config.tokens.audience, typ: 'at+jwt' });
    assert.equal(payload.sub, r.userId);
  });

  test('the private key is stored sealed, never in clear', async () => {
    const rows = await h.deps.db.admin.selectFrom('signing_keys').select(['private_sealed', 'public_jwk']).execute();
    assert.ok(rows.length >= 1);
    for (const row of rows) {
      assert.match(row.private_sealed as string, /^v1\./);
      assert.ok(!(row.private_sealed as string).includes('"d"'));
    }
  });

  test('rotation: new tokens use the new kid; tokens signed by the previous key still verify; both keys published', async () => {
    const before = await h.register();
    const oldKid = decodeProtectedHeader(before.accessToken).kid;
    const newKid = await h.deps.keys.rotate();
    assert.notEqual(newKid, oldKid);
    const after = await h.request('POST', '/api/v1/auth/login', { body: { email: before.email, password: before.password } });
    assert.equal(decodeProtectedHeader(after.json().accessToken).kid, newKid);
    await h.deps.verifier.verify(before.accessToken);
    await h.deps.verifier.verify(after.json().accessToken);
    assert.equal((await h.request('GET', '/api/v1/auth/me', { token: before.accessToken })).statusCode, 200);
    const kids = (await jwks()).keys.map((k) => k.kid);
    assert.ok(kids.includes(oldKid!) && kids.includes(newKid));
    // a verifier that knows only the JWKS (the gateway) accepts both too
    const remote = createTokenVerifier({ keys: createLocalJWKSet(await jwks()), issuer: h.config.tokens.issuer, audience: h.config.tokens.audience });
    await remote.verify(before.accessToken);
    await remote.verify(after.json().accessToken);
  });

  test('a key retired longer ago than the overlap is no longer published', async () => {
    const kid = h.deps.keys.currentKid()!;
    await h.deps.keys.rotate();
    await h.deps.db.admin.updateTable('signing_keys').set({ retired_at: new Date(Date.now() - 30 * 24 * 3600_000) }).where('kid', '=', kid).execute();
    assert.ok(!(await jwks()).keys.some((k) => k.kid === kid));
  });

  test('forged tokens are refused: alg none, a foreign key with a known kid, an unknown kid, wrong typ', async () => {
    const r = await h.register();
    const [head, body] = r.accessToken.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: h.deps.keys.currentKid() })).toString('base64url')}.${body}.`;
    const { privateKey } = await generateKeyPair('RS256');
    const claims = { tid: DEFAULT_TENANT_ID, sid: crypto.randomUUID(), roles: ['superadmin'], amr: ['pwd'] };
    const sign = (header: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', ...header })
        .setIssuer(h.config.tokens.issuer)
        .setAudience(h.config.tokens.audience)
        .setSubject(r.userId)
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti(crypto.randomUUID())
        .sign(privateKey);
    const forged = [
      none,
      await sign({ kid: h.deps.keys.currentKid(), typ: 'at+jwt' }),
      await sign({ kid: '../../etc/passwd', typ: 'at+jwt' }),
      `${head}.${body}.${'A'.repeat(20)}`,
    ];
    for (const token of forged) {
      const res = await h.request('GET', '/api/v1/auth/me', { token });
      assert.equal(res.statusCode, 401, token.slice(0, 40));
      assert.equal(res.json().code, 'invalid_token');
    }
  });
});

describe('internal tenant resolution', () => {
  test('by slug or id: 200 with status and settings; 404 tenant_not_found; 400 without exactly one key; hidden from OpenAPI', async () => {
    const bySlug = await h.request('GET', '/internal/tenants/resolve', { tenant: null, query: { slug: 'default' } });
    assert.equal(bySlug.statusCode, 200);
    assert.deepEqual(
      { id: bySlug.json().id, slug: bySlug.json().slug, status: bySlug.json().status },
      { id: DEFAULT_TENANT_ID, slug: 'default', status: 'active' },
    );
    const t = await h.createTenant('disabled', { passwordMinLength: 12 });
    const byId = await h.request('GET', '/internal/tenants/resolve', { tenant: null, query: { id: t.id } });
    assert.equal(byId.json().status, 'disabled');
    assert.deepEqual(byId.json().settings, { passwordMinLength: 12 });
    for (const query of [{ slug: 'nope-nope' }, { id: crypto.randomUUID() }, { id: 'not-a-uuid' }] as Array<Record<string, string>>) {
      const res = await h.request('GET', '/internal/tenants/resolve', { tenant: null, query });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'tenant_not_found');
    }
    assert.equal((await h.request('GET', '/internal/tenants/resolve', { tenant: null })).statusCode, 400);
    assert.equal((await h.request('GET', '/internal/tenants/resolve', { tenant: null, query: { slug: 'default', id: DEFAULT_TENANT_ID } })).statusCode, 400);
    const doc = (await h.request('GET', '/openapi.json', { tenant: null })).json();
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/internal')));
  });
});
