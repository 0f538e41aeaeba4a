import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWorkQueue } from '@gatehouse/platform/workqueue';
import { createPasswordHasher } from './passwords.service';

// cheap parameters: these tests are about the dummy hash's life, not argon2's cost
const PARAMS = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

describe('password hasher: the dummy hash for unknown accounts', () => {
  test('start() returns before the dummy hash is made, and a login right after it waits for that hash, not a new one', async () => {
    // one slot, held by the login itself: the dummy hash must not need a slot of its own
    const hasher = createPasswordHasher(PARAMS, createWorkQueue({ concurrency: 1, maxPending: 10, maxWaitMs: 60_000 }));
    await hasher.start();
    const [unknown, noPassword] = await Promise.all([hasher.verifyAccount(undefined, 'any password at all'), hasher.verifyAccount({ password_hash: null }, 'any password at all')]);
    assert.equal(unknown, false);
    assert.equal(noPassword, false);
  });

  test('without start(), the first unknown-account check makes the dummy hash itself', async () => {
    const hasher = createPasswordHasher(PARAMS);
    assert.equal(await hasher.verifyAccount(undefined, 'password'), false);
    const stored = await hasher.hash('password');
    assert.equal(await hasher.verifyAccount({ password_hash: stored }, 'password'), true);
    assert.equal(await hasher.verifyAccount({ password_hash: stored }, 'wrong'), false);
  });
});
