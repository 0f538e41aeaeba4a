/**
 * The console's API resources screen (issue 11 item 5) in headless Chromium at 360 px: a
 * tenant admin reaches it from the menu, adds a resource with scopes (the API stores them
 * with their descriptions), sees the API's problem+json detail when the audience is taken,
 * edits the name and scopes, deletes it after confirming, and sees the detail of a refused
 * delete (a resource deleted meanwhile). The page must log no errors, throw nothing, violate
 * no CSP and not be wider than the screen.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../system';
import { assertClean, chromiumMissing, heading, launchChromium, openPage, run, signInUi } from '../../../services/gateway/src/modules/console/console.browser.fixtures';

interface Resource {
  id: string;
  name: string;
  audience: string;
  scopes: Array<{ name: string; description?: string }>;
}

describe('console: API resources in headless Chromium (360 px)', { skip: chromiumMissing }, () => {
  let s: TestSystem;
  let browser: Browser;

  before(async () => {
    [s, browser] = await Promise.all([startTestSystem(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  test('list, create with scopes, a taken audience, edit, delete confirmed, a refused delete', async () => {
    const token = await s.superadminToken();
    const resources = async () => {
      const r = await s.request('GET', '/api/v1/admin/resources', { token });
      assert.equal(r.status, 200, r.text);
      return (r.body as { items: Resource[] }).items;
    };
    const audience = `https://orders-${run}.example.test/api`;
    const context = await browser.newContext({ baseURL: s.url, viewport: { width: 360, height: 740 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto('/');
      await heading(page, 'Sign in');
      await signInUi(page, s.superadmin.email, s.superadmin.password);
      await heading(page, 'My account');
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API resources' }).click();
      await heading(page, 'API resources');
      const list = page.getByRole('list', { name: 'API resources' });
      await list.getByText('No API resources yet.').waitFor();

      // create, with one described and one bare scope
      const add = page.getByRole('form', { name: 'Add an API resource' });
      await add.getByLabel('Name').fill('Orders API');
      await add.getByLabel('Audience').fill(audience);
      await add.getByLabel('Scopes').fill('orders:read Read your orders\norders:write');
      await add.getByRole('button', { name: 'Add resource' }).click();
      await page.getByText('Orders API is added.').waitFor();
      const row = list.getByRole('listitem').filter({ hasText: 'Orders API' });
      await row.getByText('orders:read, orders:write').waitFor();
      await row.getByText(audience).waitFor();
      let [stored] = await resources();
      assert.deepEqual({ name: stored!.name, audience: stored!.audience, scopes: stored!.scopes }, { name: 'Orders API', audience, scopes: [{ name: 'orders:read', description: 'Read your orders' }, { name: 'orders:write' }] });

      // the same audience again: the API's problem+json detail in the form
      await add.getByLabel('Name').fill('Orders again');
      await add.getByLabel('Audience').fill(audience);
      await add.getByRole('button', { name: 'Add resource' }).click();
      await add.getByRole('alert').getByText('An API resource with this audience exists.').waitFor();
      assert.equal((await resources()).length, 1);

      // edit the name and the scopes
      await row.getByRole('button', { name: 'Edit Orders API' }).click();
      const edit = page.getByRole('form', { name: 'Edit Orders API' });
      await edit.getByLabel('Name').fill('Orders');
      await edit.getByLabel('Scopes').fill('orders:read Read your orders\norders:export Export them as CSV');
      await edit.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Orders is saved.').waitFor();
      const edited = list.getByRole('listitem').filter({ hasText: 'Orders' });
      await edited.getByText('orders:read, orders:export').waitFor();
      [stored] = await resources();
      assert.equal(stored!.name, 'Orders');
      assert.deepEqual(stored!.scopes, [{ name: 'orders:read', description: 'Read your orders' }, { name: 'orders:export', description: 'Export them as CSV' }]);

      // at 360 px nothing is wider than the screen
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok(overflow <= 1, `the API resources screen is ${overflow}px wider than 360 px`);

      // delete: asked first; Cancel keeps it, the confirm button deletes it
      await edited.getByRole('button', { name: 'Delete Orders' }).click();
      await edited.getByText(`Delete Orders? Applications can no longer ask tokens for ${audience}.`).waitFor();
      await edited.getByRole('button', { name: 'Cancel' }).click();
      assert.equal((await resources()).length, 1);
      await edited.getByRole('button', { name: 'Delete Orders' }).click();
      await edited.getByRole('button', { name: 'Yes, delete Orders' }).click();
      await page.getByText('Orders is deleted.').waitFor();
      await list.getByText('No API resources yet.').waitFor();
      assert.deepEqual(await resources(), []);

      // a resource deleted meanwhile (another admin): the refused delete shows the API's detail
      const other = await s.request('POST', '/api/v1/admin/resources', { token, body: { name: 'Billing API', audience: `https://billing-${run}.example.test`, scopes: [] } });
      assert.equal(other.status, 201, other.text);
      await page.reload();
      await heading(page, 'API resources');
      const billing = list.getByRole('listitem').filter({ hasText: 'Billing API' });
      await billing.getByText('—').waitFor();
      assert.equal((await s.request('DELETE', `/api/v1/admin/resources/${other.body.id}`, { token })).status, 204);
      await billing.getByRole('button', { name: 'Delete Billing API' }).click();
      await billing.getByRole('button', { name: 'Yes, delete Billing API' }).click();
      await billing.getByRole('alert').getByText('No such API resource in this tenant.').waitFor();

      assertClean(problems, ['POST /api/v1/admin/resources 409', `DELETE /api/v1/admin/resources/${other.body.id} 404`]);
    } finally {
      await context.close();
    }
  });
});
