/** The webhook retry schedule (units). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ATTEMPTS, RETRY_DELAYS_SEC, retryDelayMs } from './webhooks.schedule';

describe('webhooks: retry schedule (units)', () => {
  test('the retry schedule covers at least 24 hours with the smallest jitter and starts within seconds', () => {
    const total = (rand: number) => RETRY_DELAYS_SEC.reduce((sum, _d, i) => sum + retryDelayMs(i + 1, 1, () => rand)!, 0);
    assert.ok(total(0) >= 24 * 3600 * 1000, `${total(0) / 3600_000} h`);
    assert.ok(retryDelayMs(1, 1, () => 0.999)! <= 1200);
    assert.equal(retryDelayMs(MAX_ATTEMPTS, 1), undefined);
    assert.equal(retryDelayMs(1, 0.001, () => 0.5), 1);
  });
});
