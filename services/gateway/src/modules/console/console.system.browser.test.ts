/**
 * The console's System screen (superadmin) in headless Chromium: every service's card with its
 * status, version, uptime, checks and the chart of the last hour, under the console's strict
 * CSP (no console errors, page errors or violations); an admin who is not superadmin has no
 * such menu entry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { assertClean, chromiumMissing, heading, launchChromium, openPage, signInUi } from './console.browser.fixtures';

describe('console: System screen in headless Chromium', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await system?.close();
  });

  test('the superadmin sees every service ready, with version, uptime, checks and the last hour', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1200, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto('/');
      await signInUi(page, system.admin.email, system.admin.password);
      await heading(page, 'My account');
      await page.getByRole('link', { name: 'System' }).click();
      await heading(page, 'System');
      await page.getByText('Every service is ready.', { exact: false }).waitFor();
      for (const name of ['gateway', 'auth', 'users', 'audit']) {
        const card = page.locator(`section.service[data-service="${name}"]`);
        await card.waitFor();
        assert.equal(await card.getAttribute('data-status'), 'ready');
        await card.getByText('Uptime').waitFor();
        assert.equal(await card.locator('svg.chart').count(), 1, `${name} has its chart`);
        assert.ok((await card.getByRole('list', { name: `Checks of ${name}` }).getByRole('listitem').count()) >= 1);
      }
      assertClean(problems);
    } finally {
      await context.close();
    }
  });
});
