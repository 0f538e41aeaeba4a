/**
 * Issue 15: every process run alone serves its metrics on its own METRICS_PORT, and
 * `promtool check metrics` accepts each one's output; the public ports never answer /metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from '../client';
import { checkMetrics, promtoolMissing, sample } from './promtool';
import { PROCESS_NAMES, processStackMissing, startProcessStack, type ProcessStack } from './stack-processes';

describe('e2e: metrics of each process on its METRICS_PORT', { skip: processStackMissing() ?? promtoolMissing() }, () => {
  let stack: ProcessStack;
  before(async () => {
    stack = await startProcessStack();
  });
  after(async () => {
    const codes = await stack?.close();
    assert.deepEqual(codes, [0, 0, 0, 0], 'every process exits cleanly on SIGTERM');
  });

  test('promtool check metrics passes on each process; public ports answer 404 for /metrics', async () => {
    await register(stack.gateway.url);
    for (const name of PROCESS_NAMES) {
      const text = await (await fetch(stack.metricsUrls[name])).text();
      const checked = await checkMetrics(text);
      assert.ok(checked.ok, `${name}: promtool check metrics:\n${checked.output}`);
      assert.match(text, /^process_cpu_user_seconds_total /m, `${name} exports the process metrics`);
      assert.equal((await fetch(`${stack.processes[name].url}/metrics`)).status, 404, `${name}'s public port has no /metrics`);
    }
    const auth = await (await fetch(stack.metricsUrls.auth)).text();
    assert.ok((sample(auth, 'gatehouse_outbox_published_total', { service: 'auth' }) ?? 0) >= 0);
    assert.match(auth, /^gatehouse_auth_logins_total\{/m);
    const gateway = await (await fetch(stack.metricsUrls.gateway)).text();
    assert.ok((sample(gateway, 'gatehouse_http_request_duration_seconds_count', { service: 'gateway' }) ?? 0) >= 1);
  });
});
