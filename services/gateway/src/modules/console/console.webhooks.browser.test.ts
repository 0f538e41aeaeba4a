/**
 * The console's Webhooks screen (admin) in headless Chromium, against the whole system and a
 * local receiver that verifies signatures (`standardwebhooks`) with the secret the screen
 * showed once: create, an event delivered and listed with its response, a test event, a
 * replay under the same webhook-id, disable, delete; no console errors or CSP violations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { assertClean, chromiumMissing, eventually, heading, launchChromium, openPage, signInUi } from './console.browser.fixtures';

describe('console: Webhooks screen in headless Chromium', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;
  let server: http.Server;
  let secret = '';
  const receipts: Array<{ id: string; type: string; verified: boolean }> = [];

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let verified: boolean;
        try {
          new Webhook(secret).verify(body, Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])));
          verified = true;
        } catch {
          verified = false;
        }
        receipts.push({ id: String(req.headers['webhook-id']), type: JSON.parse(body).type, verified });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('received');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    [system, browser] = await Promise.all([
      startTestSystem({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCALE: '0.001', WEBHOOK_POLL_MS: '20' } }),
      launchChromium(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await system?.close();
    server?.close();
  });

  test('create (secret once), deliveries with status and response, test event, replay, disable, delete', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1200, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      page.on('dialog', (d) => void d.accept());
      await page.goto('/');
      await signInUi(page, system.admin.email, system.admin.password);
      await heading(page, 'My account');
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await heading(page, 'Webhooks');
      await page.getByText('No webhook endpoints yet.').waitFor();

      const create = page.getByRole('form', { name: 'New webhook endpoint' });
      await create.getByLabel('URL').fill(url);
      await create.getByLabel('Events').fill('user.events.*');
      await create.getByLabel('Description').fill('browser test');
      await create.getByRole('button', { name: 'Create endpoint' }).click();
      secret = (await page.locator('code.webhook-secret').textContent()) ?? '';
      assert.match(secret, /^whsec_/);
      const row = page.locator('li.webhook');
      await row.getByText(url).waitFor();
      await page.getByRole('button', { name: 'I have copied it' }).click();
      assert.equal(await page.locator('code.webhook-secret').count(), 0, 'the secret is gone from the page');

      // an event of the tenant reaches the receiver, signed
      const user = await system.register();
      await eventually(async () => assert.ok(receipts.some((r) => r.type === 'user.events.created' && r.verified)));
      await row.getByText('Deliveries and settings').click();
      await eventually(async () => {
        await row.getByRole('button', { name: 'Refresh deliveries' }).click();
        const delivered = row.locator('tr[data-status="succeeded"]').filter({ hasText: 'user.events.created' });
        assert.ok((await delivered.count()) >= 1);
        assert.match((await delivered.first().locator('td.response').textContent()) ?? '', /^200 received/);
      });
      assert.ok(user.id);

      // a test event
      await row.getByRole('button', { name: `Send a test event to ${url}` }).click();
      await eventually(async () => assert.ok(receipts.some((r) => r.type === 'webhook.test' && r.verified)));
      await eventually(async () => {
        await row.getByRole('button', { name: 'Refresh deliveries' }).click();
        assert.equal(await row.locator('tr[data-status="succeeded"]').filter({ hasText: 'webhook.test' }).count(), 1);
      });

      // replay: the same webhook-id arrives again
      const testId = receipts.find((r) => r.type === 'webhook.test')!.id;
      await row.getByRole('button', { name: `Replay webhook.test ${testId}` }).click();
      await eventually(async () => assert.equal(receipts.filter((r) => r.id === testId).length, 2));

      // disable, then delete
      await row.getByRole('button', { name: `Disable ${url}` }).click();
      await row.getByText('disabled', { exact: true }).waitFor();
      await row.getByRole('button', { name: `Delete ${url}` }).click();
      await page.getByText('No webhook endpoints yet.').waitFor();
      assertClean(problems);
    } finally {
      await context.close();
    }
  });
});
