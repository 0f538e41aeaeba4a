import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { verify as verifyInProcess } from '@node-rs/argon2';
import { createArgon2Pool } from './argon2.pool';
import { ARGON2_PARAMS } from './passwords.service';

describe('argon2 worker pool', () => {
  const pool = createArgon2Pool(2);
  after(() => pool.close());

  test('a hash made in a worker verifies there and in this thread, and a wrong password does not', async () => {
    const stored = await pool.hash('correct horse battery staple', { ...ARGON2_PARAMS });
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await pool.verify(stored, 'correct horse battery staple'), true);
    assert.equal(await pool.verify(stored, 'correct horse battery stapler'), false);
    assert.equal(await verifyInProcess(stored, 'correct horse battery staple'), true);
  });

  test('more jobs than workers all finish, each with its own answer', async () => {
    const stored = await pool.hash('pw-0', { ...ARGON2_PARAMS, memoryCost: 1024, timeCost: 1 });
    const answers = await Promise.all(Array.from({ length: 7 }, (_, i) => pool.verify(stored, `pw-${i % 2}`)));
    assert.deepEqual(answers, [true, false, true, false, true, false, true]);
  });

  test('an unreadable hash rejects, and the worker keeps serving', async () => {
    await assert.rejects(pool.verify('$argon2id$not-a-hash', 'x'));
    const stored = await pool.hash('again', { ...ARGON2_PARAMS, memoryCost: 1024, timeCost: 1 });
    assert.equal(await pool.verify(stored, 'again'), true);
  });

  test('after close, queued and new work fails instead of hanging', async () => {
    const p = createArgon2Pool(1);
    const stored = await p.hash('x', { ...ARGON2_PARAMS, memoryCost: 1024, timeCost: 1 });
    const queued = Promise.allSettled([p.verify(stored, 'x'), p.verify(stored, 'x'), p.verify(stored, 'x')]);
    await p.close();
    const settled = await queued;
    assert.ok(settled.some((s) => s.status === 'rejected'), 'the jobs still queued were failed');
    await assert.rejects(p.verify(stored, 'x'), /closed/);
  });
});
