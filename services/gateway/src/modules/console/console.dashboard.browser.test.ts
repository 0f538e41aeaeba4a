/**
 * The console's Dashboard (tenant admin, issue 12) in headless Chromium at 360 px: in a fresh
 * tenant two people register in the console, one of them mistypes the password once and then
 * signs in, the admin signs in; the Dashboard shows today's sign-ups, sign-ins, failed
 * sign-ins and active users as the audit trail counted them, with a uPlot chart for each
 * (served from the package, under the console's CSP). No page may log errors, throw or
 * violate the CSP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { assertClean, chromiumMissing, eventually, heading, launchChromium, makeUser, openPage, postJson, registerInUi, run, signInUi, signOutUi } from './console.browser.fixtures';

const PHONE = { width: 360, height: 740 };

interface Daily {
  day: string;
  signUps: number;
  signIns: number;
  failedSignIns: number;
  activeUsers: number;
}

describe('console: Dashboard in headless Chromium (360 px)', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await system?.close();
  });

  test("registrations, a failed and a good sign-in show in today's figures and charts", async () => {
    // a fresh tenant: its admin is created (a sign-up) and signed in through the API (a sign-in)
    const slug = `dash-${run}`;
    const admin = makeUser('boss');
    const created = await postJson(system, '/api/v1/admin/tenants', { slug, name: 'Dash Corp', admin: { email: admin.email, password: admin.password } }, { authorization: `Bearer ${await system.superadminToken()}` });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const signedIn = await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', { email: admin.email, password: admin.password }, { 'x-tenant': slug });
    assert.equal(signedIn.status, 200);
    const acme = { slug };
    const ann = makeUser('ann');
    const ben = makeUser('ben');
    const context = await browser.newContext({ baseURL: system.url, viewport: PHONE, extraHTTPHeaders: { 'x-tenant': acme.slug } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto('/');
      await heading(page, 'Sign in');
      // two registrations (sign-ups; the sessions they open are not counted as sign-ins)
      for (const u of [ann, ben]) {
        await registerInUi(page, u);
        await signOutUi(page);
      }
      // one failed sign-in, then a good one
      await signInUi(page, ann.email, `${ann.password} typo`);
      await page.getByRole('alert').filter({ hasText: /./ }).first().waitFor();
      await page.getByLabel('Password').fill('');
      await signInUi(page, ann.email, ann.password);
      await heading(page, 'My account');
      await signOutUi(page);
      // the admin signs in (a sign-in) and opens the dashboard
      await signInUi(page, admin.email, admin.password);
      await heading(page, 'My account');

      // the audit trail is fed by events: wait until it has counted them all
      const expected = { signUps: 3, signIns: 3, failedSignIns: 1 };
      let today: Daily | undefined;
      await eventually(async () => {
        const res = await system.fetch('/api/v1/audit/stats/daily', { headers: { authorization: `Bearer ${signedIn.body.accessToken}`, 'x-tenant': acme.slug } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { items: Daily[] };
        today = body.items.at(-1);
        assert.deepEqual({ signUps: today?.signUps, signIns: today?.signIns, failedSignIns: today?.failedSignIns }, expected);
      });
      // the admin, Ann and Ben did something today (the admin's tenant may count its creator too)
      assert.ok(today!.activeUsers >= 3, `active users ${today!.activeUsers}`);

      await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
      await heading(page, 'Dashboard');
      const shown: Record<string, number> = {};
      for (const key of ['signUps', 'signIns', 'failedSignIns', 'activeUsers'] as const) {
        const card = page.locator(`section.card[data-metric="${key}"]`);
        await card.waitFor();
        shown[key] = Number(await card.locator('dd').first().textContent());
        // uPlot drew its chart (a canvas) into the card
        await card.locator('.uplot canvas').first().waitFor();
        const box = await card.locator('.uplot canvas').first().boundingBox();
        assert.ok(box && box.width > 200 && box.width <= 360, `${key} chart width ${box?.width}`);
      }
      assert.deepEqual(shown, { ...expected, activeUsers: today!.activeUsers });
      // one picture to look at (not committed)
      await page.screenshot({ path: '/tmp/gatehouse-console-dashboard.png', fullPage: true });
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok(overflow <= 1, `the dashboard is ${overflow}px wider than the 360 px screen`);
      assertClean(problems, ['POST /api/v1/auth/login 401']);
    } finally {
      await context.close();
    }
  });
});
