/**
 * The Users screen in headless Chromium at 360 px: the search by the start of the email or
 * username (the API's indexed match=prefix) and anywhere on request (match=contains); the user
 * detail (issue 12): the admin lists a user's sessions and revokes one, resets the user's
 * two-step verification, marks the email verified and deletes the user (confirmed); each effect
 * is checked through the API. And the console keeps working after its access token expired
 * while the admin was on a screen (the system runs with 30-second access tokens; the SDK
 * refreshes single-flight before the next call).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import { decodeJwt } from 'jose';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { totp } from '../../../../../test/src/tenancy/fixtures';
import { assertClean, chromiumMissing, eventually, heading, launchChromium, makeUser, openPage, postJson, signInUi } from './console.browser.fixtures';

const PHONE = { width: 360, height: 740 };
/** the shortest access-token lifetime the config allows, so the token expires during the test */
const ACCESS_TTL_SEC = 30;

describe('console: Users screen search, user detail and token refresh in headless Chromium (360 px)', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem({ env: { ACCESS_TOKEN_TTL_SEC: String(ACCESS_TTL_SEC) } }), launchChromium()]);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await system?.close();
  });

  async function context() {
    const c = await browser.newContext({ baseURL: system.url, viewport: PHONE });
    contexts.push(c);
    return c;
  }

  /** A fresh admin access token (the system's tokens live 30 s). */
  async function adminGet<T>(path: string): Promise<{ status: number; body: T }> {
    const token = (await system.login(system.admin.email, system.admin.password)).accessToken;
    const r = await system.request('GET', path, { token });
    return { status: r.status, body: r.body as T };
  }

  test('sessions with revoke, two-step verification reset, mark verified, delete with confirmation', async () => {
    const u = makeUser('dora');
    const first = await system.register({ email: u.email, password: u.password, username: u.username });
    const second = await system.login(u.email, u.password);
    const setup = await system.request('POST', '/api/v1/auth/mfa/totp/setup', { token: second.accessToken });
    assert.equal(setup.status, 200, setup.text);
    const confirm = await system.request('POST', '/api/v1/auth/mfa/totp/confirm', { token: second.accessToken, body: { code: totp(setup.body.secret as string) } });
    assert.equal(confirm.status, 200, confirm.text);
    const sids = (await adminGet<{ items: Array<{ id: string }> }>(`/api/v1/admin/users/${first.id}/sessions`)).body.items.map((s) => s.id);
    const firstSid = decodeJwt(first.accessToken).sid as string;
    const secondSid = decodeJwt(second.accessToken).sid as string;
    assert.deepEqual([...sids].sort(), [firstSid, secondSid].sort(), 'the admin API lists both sessions');

    const { page, problems } = await openPage(await context());
    await page.goto('/');
    await signInUi(page, system.admin.email, system.admin.password);
    await heading(page, 'My account');
    await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
    await heading(page, 'Users');
    await page.getByLabel('Email or username starts with').fill(u.email);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`1 user starting with “${u.email}”.`).waitFor();
    const row = page.locator(`li[data-user="${first.id}"]`);
    await row.getByText('Manage').click();

    // ---- sessions: both listed, one revoked (asked first) ----
    await row.getByRole('button', { name: 'Show sessions' }).click();
    const list = row.getByRole('list', { name: /^Sessions of / });
    await list.locator(`li[data-session="${firstSid}"]`).waitFor();
    await list.locator(`li[data-session="${secondSid}"]`).waitFor();
    await list.locator(`li[data-session="${firstSid}"]`).getByRole('button', { name: /^Revoke session/ }).click();
    await list.locator(`li[data-session="${firstSid}"]`).getByRole('button', { name: 'Yes, revoke it' }).click();
    await page.getByText(/The session of .* is revoked\./).waitFor();
    await list.locator(`li[data-session="${firstSid}"]`).waitFor({ state: 'detached' });
    await list.locator(`li[data-session="${secondSid}"]`).waitFor();
    // the revoked session is over (its access token within a second, its refresh token at once); the other lives
    const refreshed = await system.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
    assert.equal(refreshed.status, 401, refreshed.text);
    await eventually(async () => {
      assert.equal((await system.request('GET', '/api/v1/auth/me', { token: first.accessToken })).status, 401);
    });
    const other = await system.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: second.refreshToken } });
    assert.equal(other.status, 200, `the other session lives: ${other.text}`);
    assert.deepEqual((await adminGet<{ items: Array<{ id: string }> }>(`/api/v1/admin/users/${first.id}/sessions`)).body.items.map((s) => s.id), [secondSid]);

    // ---- two-step verification reset (asked first) ----
    await row.getByText('2-step', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Reset two-step verification' }).click();
    await row.getByRole('button', { name: 'Yes, reset it' }).click();
    await page.getByText(/Two-step verification of .* is reset\./).waitFor();
    assert.equal((await adminGet<{ mfaEnabled: boolean }>(`/api/v1/admin/users/${first.id}`)).body.mfaEnabled, false);
    // the next password login needs no second factor
    const plain = await postJson<{ accessToken?: string; mfaToken?: string }>(system, '/api/v1/auth/login', { email: u.email, password: u.password });
    assert.equal(plain.status, 200);
    assert.ok(plain.body.accessToken && !plain.body.mfaToken, 'signed in without a second factor');

    // ---- mark verified ----
    await row.getByText('unverified', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Mark email verified' }).click();
    await page.getByText(`${u.email} is marked verified.`).waitFor();
    await row.getByText('unverified', { exact: true }).waitFor({ state: 'detached' });
    assert.equal((await adminGet<{ emailVerified: boolean }>(`/api/v1/admin/users/${first.id}`)).body.emailVerified, true);

    // ---- delete (asked first) ----
    await row.getByRole('button', { name: /^Delete / }).click();
    await row.getByRole('button', { name: /^Yes, delete / }).click();
    await page.getByText(/ is deleted\.$/).waitFor();
    await row.waitFor({ state: 'detached' });
    assert.equal((await adminGet(`/api/v1/admin/users/${first.id}`)).status, 404);
    assert.equal((await postJson(system, '/api/v1/auth/login', { email: u.email, password: u.password })).status, 401);
    assertClean(problems);
  });

  test('search: by the start of the email or username by default (match=prefix), anywhere on request (match=contains)', async () => {
    const u = makeUser('quill');
    const registered = await system.register({ email: u.email, password: u.password, username: u.username });
    // the middle of the address: no email or username starts with it, only this user's contains it
    const middle = u.email.slice(u.email.indexOf('-') + 1);
    const { page, problems } = await openPage(await context());
    const searches: URLSearchParams[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/v1/admin/users' && url.searchParams.has('query')) searches.push(url.searchParams);
    });
    await page.goto('/');
    await signInUi(page, system.admin.email, system.admin.password);
    await heading(page, 'My account');
    await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
    await heading(page, 'Users');
    const anywhere = page.getByLabel('Anywhere in the email or username');
    assert.equal(await anywhere.isChecked(), false, 'prefix search is the default');

    // by default, the start: the beginning of the address (in capitals) finds the user, its middle does not
    const start = u.email.slice(0, u.email.indexOf('@')).toUpperCase();
    await page.getByLabel('Email or username starts with').fill(start);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`1 user starting with “${start}”.`).waitFor();
    await page.locator(`li[data-user="${registered.id}"]`).waitFor();
    await page.getByLabel('Email or username starts with').fill(middle);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`No user starting with “${middle}”.`).waitFor();
    assert.equal(await page.locator('li.user').count(), 0);

    // anywhere: the label says so, and the middle of the address finds the user
    await anywhere.check();
    await page.getByLabel('Email or username contains').fill(middle);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`1 user containing “${middle}”.`).waitFor();
    await page.locator(`li[data-user="${registered.id}"]`).waitFor();
    await anywhere.uncheck();
    await page.getByLabel('Email or username starts with').waitFor();

    assert.deepEqual(
      searches.map((q) => [q.get('query'), q.get('match')]),
      [[start, 'prefix'], [middle, 'prefix'], [middle, 'contains']],
      'the console asks the API for match=prefix unless "anywhere" is ticked',
    );
    await page.screenshot({ path: '/tmp/gatehouse-console-user-search.png' });
    assertClean(problems);
  });

  test('the access token expires while the admin is on a screen; the next action still works (refreshed first)', async () => {
    const { page, problems } = await openPage(await context());
    // every access token the page receives (sign-in and refreshes), and every answer from the API
    const tokens: string[] = [];
    const answers: Array<{ path: string; status: number }> = [];
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (!path.startsWith('/api/')) return;
      answers.push({ path, status: r.status() });
      if ((path === '/api/v1/auth/login' || path === '/api/v1/auth/refresh') && r.ok()) {
        void r.json().then((b: { accessToken?: string }) => b.accessToken && tokens.push(b.accessToken), () => {});
      }
    });
    await page.goto('/');
    await signInUi(page, system.admin.email, system.admin.password);
    await heading(page, 'My account');
    await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
    await heading(page, 'Users');
    await eventually(async () => assert.ok(tokens.length > 0, 'the page got an access token'));
    const held = tokens.at(-1)!;
    const { exp, iat } = decodeJwt(held);
    assert.ok(Math.abs(exp! - iat! - ACCESS_TTL_SEC) <= 1, `a short-lived access token (${exp! - iat!} s)`);

    // stay on the screen until the newest token has expired (plus the verifiers' 5 s clock tolerance)
    const waitMs = (exp! + 6) * 1000 - Date.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    assert.equal((await system.request('GET', '/api/v1/auth/me', { token: held })).status, 401, 'the token the page held is expired');
    const before = answers.length;

    // the next actions on the screen: a search, then another screen
    await page.getByLabel('Email or username starts with').fill(system.admin.email);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`1 user starting with “${system.admin.email}”.`).waitFor();
    await page.locator('#nav').getByRole('link', { name: 'Roles', exact: true }).click();
    await heading(page, 'Roles');
    await page.locator('li[data-role="admin"]').waitFor();
    const after = answers.slice(before);
    assert.ok(after.some((a) => a.path === '/api/v1/auth/refresh' && a.status === 200), `a refresh happened: ${JSON.stringify(after)}`);
    assert.deepEqual(after.filter((a) => a.status >= 400), [], 'no call failed (none ran into a 401)');
    assertClean(problems);
  });
});
