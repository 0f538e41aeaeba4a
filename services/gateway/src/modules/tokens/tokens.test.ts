import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { createKvStore } from '@gatehouse/platform/kv';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { testLogger, testServers } from '@gatehouse/platform/testing';
import { startStack, type Echo, type Stack } from '../../testing/fixtures';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('tokens: JWT attacks at the gateway all give 401 invalid_token', () => {
  let s: Stack;
  /** a server that counts requests: a jku/x5u target that must never be fetched */
  const lure = Fastify();
  let lureHits = 0;
  let lureUrl = '';

  before(async () => {
    s = await startStack();
    lure.all('/*', async () => {
      lureHits += 1;
      return { keys: [] };
    });
    lureUrl = await lure.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await s.close();
    await lure.close();
  });

  async function call(token: string, path = '/api/v1/users/me') {
    return s.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } });
  }

  async function rejected(token: string, why: string) {
    const res = await call(token);
    assert.equal(res.statusCode, 401, `${why}: ${res.statusCode} ${res.body}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, why);
    assert.equal(res.json().code, 'invalid_token', why);
    assert.equal(res.headers['www-authenticate'], 'Bearer', why);
  }

  test('a valid token passes, and Authorization reaches the service unchanged', async () => {
    const token = await s.auth.mint(s.tenant('default'));
    const res = await call(token);
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<Echo>().headers.authorization, `Bearer ${token}`);
  });

  test('requests without a token pass through (the service decides)', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<Echo>().headers.authorization, undefined);
  });

  test('an enrollment mfaToken reaches TOTP setup/confirm only; everywhere else it is not an access token', async () => {
    const mfa = `mfa_${randomUUID().replaceAll('-', '')}`;
    for (const url of ['/api/v1/auth/mfa/totp/setup', '/api/v1/auth/mfa/totp/confirm']) {
      const res = await s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${mfa}`, 'content-type': 'application/json' }, payload: '{}' });
      assert.notEqual(res.statusCode, 401, `${url}: ${res.body}`);
      assert.equal(res.json<Echo>().headers.authorization, `Bearer ${mfa}`, url);
    }
    await rejected(mfa, 'mfaToken on another route');
    const get = await s.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/totp/setup', headers: { authorization: `Bearer ${mfa}` } });
    assert.equal(get.statusCode, 401, 'only POST');
  });

  test('alg none, in any case', async () => {
    const payload = { sub: randomUUID(), tid: s.tenant('default').id, sid: randomUUID(), roles: ['admin'], amr: [], iss: 'http://gatehouse.test', aud: 'gatehouse', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, jti: randomUUID() };
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await rejected(`${b64({ alg, typ: 'at+jwt', kid: s.auth.kid })}.${b64(payload)}.`, `alg ${alg}`);
    }
  });

  test('HS256 keyed with the public key (PEM and JWK forms)', async () => {
    const payload = { sub: randomUUID(), tid: s.tenant('default').id, sid: randomUUID(), roles: ['superadmin'], amr: [], iss: 'http://gatehouse.test', aud: 'gatehouse', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, jti: randomUUID() };
    const pem = await exportSPKI(s.auth.publicKey);
    for (const secret of [pem, JSON.stringify(s.auth.jwk), s.auth.jwk.n!]) {
      const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: s.auth.kid })}.${b64(payload)}`;
      const sig = createHmac('sha256', secret).update(signingInput).digest('base64url');
      await rejected(`${signingInput}.${sig}`, 'HS256 with public key');
    }
  });

  test('tampered payload (roles raised, signature kept)', async () => {
    const token = await s.auth.mint(s.tenant('default'));
    const [h, p, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    claims.roles = ['superadmin'];
    await rejected(`${h}.${b64(claims)}.${sig}`, 'tampered');
  });

  test('wrong aud, iss, typ', async () => {
    const t = s.tenant('default');
    await rejected(await s.auth.mint(t, { claims: { aud: 'another-api' } }), 'aud');
    await rejected(await s.auth.mint(t, { claims: { iss: 'http://evil.test' } }), 'iss');
    for (const typ of ['JWT', 'id+jwt', 'reset+jwt', 'at+JWT ']) {
      await rejected(await s.auth.mint(t, { header: { typ } }), `typ ${typ}`);
    }
  });

  test('expired and not yet valid', async () => {
    const t = s.tenant('default');
    const now = Math.floor(Date.now() / 1000);
    await rejected(await s.auth.mint(t, { claims: { iat: now - 3600 }, expiresIn: now - 60 }), 'expired');
    await rejected(await s.auth.mint(t, { notBefore: now + 600 }), 'nbf in the future');
  });

  test('unknown kid (opaque, also path-like) and a foreign key with our kid', async () => {
    const t = s.tenant('default');
    const other = await generateKeyPair('RS256');
    const claims = { tid: t.id, sid: randomUUID(), roles: ['user'], amr: [], jti: randomUUID() };
    for (const kid of ['nope', '../../../etc/passwd', `${lureUrl}/jwks.json`, s.auth.kid]) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
        .setSubject(randomUUID())
        .setIssuer('http://gatehouse.test')
        .setAudience('gatehouse')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(other.privateKey);
      await rejected(token, `kid ${kid}`);
    }
    assert.equal(lureHits, 0);
  });

  test('jku, x5u and an embedded jwk pointing elsewhere: rejected, nothing fetched', async () => {
    const t = s.tenant('default');
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const claims = { tid: t.id, sid: randomUUID(), roles: ['superadmin'], amr: [], jti: randomUUID() };
    const headers = [
      { jku: `${lureUrl}/jwks.json`, kid: 'attacker' },
      { x5u: `${lureUrl}/cert.pem`, kid: 'attacker' },
      { jwk: attackerJwk },
      { jwk: attackerJwk, kid: s.auth.kid },
      { jku: `${lureUrl}/jwks.json`, kid: s.auth.kid },
    ];
    for (const extra of headers) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...extra })
        .setSubject(randomUUID())
        .setIssuer('http://gatehouse.test')
        .setAudience('gatehouse')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(attacker.privateKey);
      await rejected(token, `header ${Object.keys(extra).join(',')}`);
    }
    assert.equal(lureHits, 0, 'the gateway fetched a URL named in a token header');
  });

  test('algorithms outside the allow-list (RS512 with our kid) and non-base64url characters', async () => {
    const t = s.tenant('default');
    const rs512Key = await generateKeyPair('RS512');
    const rs512 = await new SignJWT({ tid: t.id, sid: randomUUID(), roles: ['user'], amr: [], jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS512', typ: 'at+jwt', kid: s.auth.kid })
      .setSubject(randomUUID())
      .setIssuer('http://gatehouse.test')
      .setAudience('gatehouse')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(rs512Key.privateKey);
    await rejected(rs512, 'RS512');
    const good = await s.auth.mint(t);
    const [h, p, sig] = good.split('.') as [string, string, string];
    await rejected(`${h}.${p.slice(0, 10)}+/${p.slice(12)}.${sig}`, 'base64 (not url) characters');
    await rejected(`${h}=.${p}.${sig}`, 'padding');
    await rejected(`${h}.${p}.${sig}.extra`, 'four segments');
    await rejected('not-a-jwt', 'garbage');
  });

  test('malformed Authorization headers', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer a b', 'Token abc']) {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization);
      assert.equal(res.json().code, 'invalid_token');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
  });

  test('a token missing tid or sid', async () => {
    const t = s.tenant('default');
    for (const drop of ['tid', 'sid']) {
      const claims: Record<string, unknown> = { tid: t.id, sid: randomUUID(), roles: ['user'], amr: [], jti: randomUUID() };
      delete claims[drop];
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: s.auth.kid })
        .setSubject(randomUUID())
        .setIssuer('http://gatehouse.test')
        .setAudience('gatehouse')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(s.auth.privateKey);
      await rejected(token, `without ${drop}`);
    }
  });
});

describe('tokens: revocation reaches the gateway within 1 s', () => {
  let s: Stack;
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s.close();
  });

  /** Another process's revocation list on the same store (Redis when the run has it). */
  async function otherProcessList() {
    const kv = testServers.redisUrl ? createKvStore({ url: testServers.redisUrl, keyPrefix: `${s.shared.prefix}:`, logger: testLogger }) : s.shared.kv;
    // The list writes through kv.redis directly; wait until that connection is up.
    await kv.ping();
    const list = createRevocationList({ kv, logger: testLogger });
    await list.start();
    return {
      list,
      async close() {
        await list.stop();
        if (kv !== s.shared.kv) await kv.close();
      },
    };
  }

  async function msUntilRejected(token: string, slug = 'default'): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      const res = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}`, 'x-tenant': slug } });
      if (res.statusCode === 401) {
        assert.equal(res.json().code, 'invalid_token');
        return Date.now() - t0;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return Infinity;
  }

  test('revokeSession in another process: the session token fails within 1 s, others still pass', async () => {
    const t = s.tenant('default');
    const sid = randomUUID();
    const token = await s.auth.mint(t, { claims: { sid } });
    const bystander = await s.auth.mint(t);
    assert.equal((await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    const other = await otherProcessList();
    try {
      await other.list.revokeSession(sid, 60_000);
      const ms = await msUntilRejected(token);
      assert.ok(ms < 1000, `took ${ms} ms`);
      const ok = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${bystander}` } });
      assert.equal(ok.statusCode, 200);
    } finally {
      await other.close();
    }
  });

  test('revokeTenant (tenant disabled) makes every earlier token of it fail within 1 s', async () => {
    const t = s.tenant('globex');
    const token = await s.auth.mint(t, { claims: { iat: Math.floor(Date.now() / 1000) - 5 } });
    const before = await s.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}`, 'x-tenant': 'globex' } });
    assert.equal(before.statusCode, 200);
    const other = await otherProcessList();
    try {
      await other.list.revokeTenant(t.id, Math.floor(Date.now() / 1000), 60_000);
      const ms = await msUntilRejected(token, 'globex');
      assert.ok(ms < 1000, `took ${ms} ms`);
    } finally {
      await other.close();
    }
  });
});
