import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from './errors';
import { loadOnFirstUse } from './lazy';

test('loadOnFirstUse loads once for every caller; a failed load answers 503 service_unavailable and the next call tries again', async () => {
  let calls = 0;
  let fail = true;
  const get = loadOnFirstUse('The thing', async () => {
    calls += 1;
    if (fail) throw new Error('cannot find module');
    return { value: calls };
  });
  assert.equal(calls, 0, 'nothing is loaded before the first use');

  const err = await get().then(
    () => assert.fail('the failed load resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AppError);
  assert.equal(err.code, 'service_unavailable');
  assert.equal(err.status, 503);
  assert.match(String(err.detail), /^The thing could not be loaded/);
  assert.equal(err.headers?.['retry-after'], '5');
  assert.equal((err.cause as Error).message, 'cannot find module');

  fail = false;
  const [a, b] = await Promise.all([get(), get()]);
  assert.equal(calls, 2, 'tried again after the failure, once for both callers');
  assert.equal(a, b);
  assert.deepEqual(await get(), { value: 2 });
  assert.equal(calls, 2, 'kept once loaded');
});
