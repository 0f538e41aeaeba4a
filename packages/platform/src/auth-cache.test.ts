import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, generateKeyPair, type JWTVerifyGetKey } from 'jose';
import { createTokenVerifier } from './auth';
import { createKvStore } from './kv';
import { createRevocationList } from './revocation';
import { testLogger } from './testing';

const issuer = 'http://issuer.test';
const audience = 'gatehouse';

test('a verifier with a cache checks a token\'s signature once, still honours revocation, and refuses a changed token', async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  let keyLookups = 0;
  // the key lookup runs once per signature check: counting it counts signature checks
  const keys: JWTVerifyGetKey = async () => {
    keyLookups += 1;
    return publicKey;
  };
  const kv = createKvStore({ logger: testLogger });
  const revocations = createRevocationList({ kv, logger: testLogger, channel: `auth-cache-test-${randomUUID()}` });
  await revocations.start();
  try {
    const verifier = createTokenVerifier({ keys, issuer, audience, revocations, cache: { max: 100, ttlMs: 60_000 } });
    const sid = randomUUID();
    const token = await new SignJWT({ tid: randomUUID(), sid, roles: ['user'], amr: ['pwd'] })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(randomUUID())
      .setIssuedAt()
      .setExpirationTime('15m')
      .setJti(randomUUID())
      .sign(privateKey);

    assert.equal(verifier.verifyCached(token), undefined, 'verifyCached knows only tokens verified before');
    const first = await verifier.verify(token);
    const now = verifier.verifyCached(token);
    assert.deepEqual(now, first, 'then answers without a promise');
    now!.roles.push('admin');
    const second = await verifier.verify(token);
    assert.deepEqual(second, first);
    assert.equal(keyLookups, 1, 'the second verification came from the cache');
    second.roles.push('admin');
    assert.deepEqual((await verifier.verify(token)).roles, ['user'], 'a caller changing its claims does not change the cached ones');
    const third = await verifier.verify(token);
    third.amr.push('otp');
    third.sub = 'someone else';
    const fourth = await verifier.verify(token);
    assert.deepEqual([fourth.amr, fourth.sub], [first.amr, first.sub], 'nor its other claims');

    // a changed signature is a different token: verified (and refused), never served from the cache
    const [h, p, sig] = token.split('.');
    const forged = `${h}.${p}.${sig!.slice(0, -4)}${sig!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await assert.rejects(verifier.verify(forged), /invalid_token|token/i);
    assert.equal(keyLookups, 2, 'the changed token was checked, not served from the cache');

    // a cached token is checked again once its time in the cache is up (a retired signing key
    // stops being accepted within ttlMs)
    const brief = createTokenVerifier({ keys, issuer, audience, revocations, cache: { max: 100, ttlMs: 40 } });
    const lookupsBefore = keyLookups;
    await brief.verify(token);
    await brief.verify(token);
    assert.equal(keyLookups, lookupsBefore + 1, 'served from the cache within ttlMs');
    await sleep(80);
    await brief.verify(token);
    assert.equal(keyLookups, lookupsBefore + 2, 'checked again after ttlMs');

    await sleep(80);
    assert.equal(brief.verifyCached(token), undefined, 'nor does verifyCached after ttlMs');

    // revoking the session fails the cached token at once
    await revocations.revokeSession(sid, 60_000);
    await assert.rejects(verifier.verify(token), /revoked/);
    assert.throws(() => verifier.verifyCached(token), /revoked/);

    // without the option nothing is cached
    const plain = createTokenVerifier({ keys, issuer, audience });
    const before = keyLookups;
    await plain.verify(token);
    await plain.verify(token);
    assert.equal(keyLookups, before + 2);
  } finally {
    await revocations.stop();
    await kv.close();
  }
});
