/**
 * The administration screens of the console in headless Chromium at 360 px (issue 12), each
 * walked by the role that owns it: the superadmin creates a tenant on the Tenants screen; its
 * admin defines a role (Roles), invites a user (Users) who sets a password from the emailed
 * link and signs in; the admin assigns the role and the user's next token carries its
 * permissions; the admin saves tenant settings and a sign-in provider (Settings), whose button
 * then shows on the sign-in page; the user changes username, display name and email (link to
 * the new address) and deletes the account. The tenant is chosen with the X-Tenant header
 * (allowed from loopback). No page may log errors, throw or violate the CSP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { assertClean, chromiumMissing, eventually, heading, launchChromium, localInput, makeUser, openPage, postJson, run, signInUi, signOutUi } from './console.browser.fixtures';

const PHONE = { width: 360, height: 740 };

/** The token of the newest mail to `email` whose link path is `path`. */
async function mailed(system: TestSystem, email: string, path: string): Promise<string> {
  let token: string | undefined;
  await eventually(async () => {
    const mail = system.shared.mailer.messages().filter((m) => m.to === email && m.text.includes(`/${path}?token=`)).at(-1);
    token = mail ? new RegExp(`/${path}\\?token=([A-Za-z0-9_%-]+)`).exec(mail.text)?.[1] : undefined;
    assert.ok(token, `a ${path} mail to ${email}`);
  });
  return decodeURIComponent(token!);
}

/** Opens the menu entry (the nav is a list of links). */
async function go(page: Page, name: string, title = name) {
  await page.locator('#nav').getByRole('link', { name, exact: true }).click();
  await heading(page, title);
}

/** Asserts the page does not scroll sideways at 360 px. */
async function fitsPhone(page: Page, what: string) {
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  assert.ok(overflow <= 1, `${what}: ${overflow}px wider than the 360 px screen`);
}

describe('console administration screens in headless Chromium (360 px)', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem(), launchChromium()]);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await system?.close();
  });

  async function context(tenant?: string) {
    const c = await browser.newContext({ baseURL: system.url, viewport: PHONE, acceptDownloads: true, ...(tenant ? { extraHTTPHeaders: { 'x-tenant': tenant } } : {}) });
    contexts.push(c);
    return c;
  }

  test('superadmin creates a tenant; its admin defines a role, invites a user who sets a password and signs in; the role reaches the token; settings; the user changes name and email and deletes the account', async () => {
    const slug = `acme-${run}`;
    const admin = makeUser('boss');
    const invitee = makeUser('ivy');

    // ---- superadmin: Tenants screen ----
    const root = await openPage(await context());
    await root.page.goto('/');
    await signInUi(root.page, system.admin.email, system.admin.password);
    await heading(root.page, 'My account');
    await go(root.page, 'Tenants');
    await root.page.getByText('Create a tenant', { exact: true }).click();
    await root.page.getByLabel('Slug').fill(slug);
    await root.page.getByLabel('Name', { exact: true }).fill('Acme Corp');
    await root.page.getByLabel('First admin’s email (optional)').fill(admin.email);
    await root.page.getByLabel('First admin’s password').fill(admin.password);
    await root.page.getByRole('button', { name: 'Create tenant' }).click();
    await root.page.getByText(`Tenant ${slug} created with ${admin.email} as its admin.`).waitFor();
    const row = root.page.locator(`li[data-tenant="${slug}"]`);
    await row.getByText('active', { exact: true }).waitFor();
    await fitsPhone(root.page, 'Tenants');
    // disable (asked first) and enable again
    await row.getByRole('button', { name: `Disable ${slug}` }).click();
    await row.getByRole('button', { name: `Yes, disable ${slug}` }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    await row.getByRole('button', { name: `Enable ${slug}` }).click();
    await row.getByText('active', { exact: true }).waitFor();
    assertClean(root.problems);

    // ---- the tenant's admin: Roles, Users (invite), Settings ----
    const boss = await openPage(await context(slug));
    await boss.page.goto('/');
    await signInUi(boss.page, admin.email, admin.password);
    await heading(boss.page, 'My account');
    await go(boss.page, 'Roles');
    await boss.page.getByLabel('Name', { exact: true }).fill('reporter');
    await boss.page.getByLabel('Description (optional)').fill('Reads reports');
    await boss.page.getByLabel('Permissions', { exact: true }).fill('reports:read\nreports:export');
    await boss.page.getByRole('button', { name: 'Create role' }).click();
    await boss.page.getByText('Role reporter created.').waitFor();
    await boss.page.locator('li[data-role="reporter"]').getByText('reports:read', { exact: true }).waitFor();
    // a built-in role cannot be removed: it has no delete button
    assert.equal(await boss.page.locator('li[data-role="admin"]').getByRole('button').count(), 0);
    await fitsPhone(boss.page, 'Roles');

    await go(boss.page, 'Users');
    await boss.page.getByText('Add or invite a user').click();
    await boss.page.getByLabel('Email', { exact: true }).fill(invitee.email);
    await boss.page.getByLabel('Display name (optional)').fill(invitee.displayName);
    await boss.page.getByRole('button', { name: 'Add user' }).click();
    await boss.page.getByText(`An invitation is on its way to ${invitee.email}.`).waitFor();
    // a second invitation to the same address: the API's problem detail is shown
    await boss.page.getByLabel('Email', { exact: true }).fill(invitee.email);
    await boss.page.getByRole('button', { name: 'Add user' }).click();
    await boss.page.getByRole('alert').filter({ hasText: 'An account with this email already exists.' }).waitFor();
    await fitsPhone(boss.page, 'Users');

    // ---- the invited user sets a password from the emailed link and signs in ----
    const ivy = await openPage(await context(slug));
    const inviteToken = await mailed(system, invitee.email, 'reset-password');
    await ivy.page.goto(`/reset-password?token=${encodeURIComponent(inviteToken)}`);
    await heading(ivy.page, 'Choose a new password');
    await ivy.page.getByLabel('New password', { exact: true }).fill(invitee.password);
    await ivy.page.getByRole('button', { name: 'Set password' }).click();
    await heading(ivy.page, 'Sign in');
    const [firstLogin] = await Promise.all([ivy.page.waitForResponse((r) => r.url().includes('/api/v1/auth/login')), signInUi(ivy.page, invitee.email, invitee.password)]);
    await heading(ivy.page, 'My account');
    assert.deepEqual(decodeJwt(((await firstLogin.json()) as { accessToken: string }).accessToken).permissions, []);

    // ---- the admin finds the user (filters) and assigns the role ----
    await boss.page.getByLabel('Role').selectOption('user');
    await boss.page.getByLabel('Email status').selectOption('true');
    await boss.page.getByLabel('Email or username starts with').fill(invitee.email);
    await boss.page.getByRole('button', { name: 'Search' }).click();
    await boss.page.getByText(`1 user starting with “${invitee.email}” and matching the filters.`).waitFor();
    const user = boss.page.locator('li.user').filter({ hasText: invitee.email });
    await user.getByText('Manage').click();
    await user.getByLabel('reporter').check();
    await user.getByRole('button', { name: 'Save roles' }).click();
    await boss.page.getByText(/Roles of .* saved/).waitFor();
    await user.getByText('reporter', { exact: true }).first().waitFor();

    // the user's next token carries the role and its permissions (a reload refreshes)
    const [refreshed] = await Promise.all([ivy.page.waitForResponse((r) => r.url().includes('/api/v1/auth/refresh')), ivy.page.reload()]);
    await heading(ivy.page, 'My account');
    const claims = decodeJwt(((await refreshed.json()) as { accessToken: string }).accessToken) as { roles: string[]; permissions: string[] };
    assert.deepEqual(claims.roles, ['user', 'reporter']);
    assert.deepEqual(claims.permissions, ['reports:export', 'reports:read']);

    // send a reset mail and see the user's activity from the detail
    await user.getByRole('button', { name: 'Send password reset' }).click();
    await boss.page.getByText(`A password reset link is on its way to ${invitee.email}.`).waitFor();
    await user.getByRole('button', { name: 'Show activity' }).click();
    await user.getByRole('list', { name: /^Activity of / }).waitFor();

    // ---- Settings: tenant settings and a sign-in provider ----
    await go(boss.page, 'Settings');
    await boss.page.getByLabel('Password minimum length').fill('12');
    await boss.page.getByLabel('Redirect URIs').fill(`${system.url}/oauth-callback`);
    await boss.page.getByRole('button', { name: 'Save settings' }).click();
    await boss.page.getByText('Settings saved.').waitFor();
    await boss.page.getByText('Add or change a provider').click();
    await boss.page.getByLabel('Provider', { exact: true }).selectOption('github');
    await boss.page.getByLabel('Client id').fill(`client-${run}`);
    await boss.page.getByLabel('Client secret').fill('a-secret');
    await boss.page.getByRole('button', { name: 'Save provider' }).click();
    await boss.page.getByText('Provider saved.').waitFor();
    await boss.page.locator('li[data-provider="github"]').getByText('enabled').waitFor();
    await fitsPhone(boss.page, 'Settings');
    const bossLogin = await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', { email: admin.email, password: admin.password }, { 'x-tenant': slug });
    const own = (await (await system.fetch('/api/v1/admin/tenant', { headers: { authorization: `Bearer ${bossLogin.body.accessToken}`, 'x-tenant': slug } })).json()) as { settings: Record<string, unknown> };
    assert.equal(own.settings.passwordMinLength, 12);

    // ---- Events: the invited user is expected at an event and, not checked in, shows as absent ----
    const ivyId = (await postJson<{ user: { id: string } }>(system, '/api/v1/auth/login', { email: invitee.email, password: invitee.password }, { 'x-tenant': slug })).body.user.id;
    await go(boss.page, 'Events');
    await boss.page.getByText('Create an event').click();
    const title = `Review ${run}`;
    await boss.page.getByLabel('Title').fill(title);
    await boss.page.getByLabel('Starts').fill(localInput(new Date(Date.now() - 5 * 60_000)));
    await boss.page.getByLabel('Ends').fill(localInput(new Date(Date.now() + 55 * 60_000)));
    await boss.page.getByRole('button', { name: 'Create event' }).click();
    const event = boss.page.locator('li.event').filter({ hasText: title });
    await event.getByText('Attendance').click();
    await event.getByText('Expected members', { exact: true }).click();
    await event.getByLabel('Expected members (user ids)').fill(ivyId);
    await event.getByRole('button', { name: 'Save expected members' }).click();
    await boss.page.getByText(`1 member expected at ${title}.`).waitFor();
    const report = event.getByRole('list', { name: `Attendance at ${title}` });
    await report.getByText('absent', { exact: true }).waitFor();
    await fitsPhone(boss.page, 'Events');

    // ---- Audit log: the invitation is in the trail (filtered by type), the chain verifies, CSV export ----
    await go(boss.page, 'Audit log');
    await boss.page.getByText('chain intact').waitFor();
    await boss.page.getByLabel('Type').fill('auth.events.user_invited');
    await eventually(async () => {
      await boss.page.getByRole('button', { name: 'Filter', exact: true }).click();
      await boss.page.getByText('1 entry, newest first.').waitFor({ timeout: 2000 });
    });
    const entry = boss.page.locator('li.entry').first();
    await entry.getByText(/^Entry \d+$/).click();
    await entry.getByText(ivyId).first().waitFor();
    const [csv] = await Promise.all([boss.page.waitForEvent('download'), boss.page.getByRole('button', { name: 'Export CSV' }).click()]);
    assert.equal(csv.suggestedFilename(), 'audit.csv');
    const text = Buffer.concat(await (await csv.createReadStream()).toArray()).toString('utf8');
    assert.match(text, /auth\.events\.user_invited/);
    await fitsPhone(boss.page, 'Audit log');
    assertClean(boss.problems, ['POST /api/v1/admin/users 409']);

    // ---- the user: name, email change, delete ----
    await ivy.page.getByLabel('Username', { exact: true }).fill(invitee.username);
    await ivy.page.getByLabel('Display name', { exact: true }).fill('Ivy Renamed');
    await ivy.page.getByRole('button', { name: 'Save name' }).click();
    await ivy.page.getByText('Your name is saved.').waitFor();
    await ivy.page.locator('#who').getByText('Ivy Renamed').waitFor();

    const moved = `moved-${invitee.email}`;
    await ivy.page.getByLabel('New email').fill(moved);
    await ivy.page.getByLabel('Password to confirm').fill(invitee.password);
    await ivy.page.getByRole('button', { name: 'Send confirmation link' }).click();
    await ivy.page.getByText(`We sent a link to ${moved}.`).waitFor();
    assert.ok(system.shared.mailer.messages().some((m) => m.to === invitee.email && m.text.includes(moved)), 'a notice went to the old address');
    const changeToken = await mailed(system, moved, 'confirm-email');
    await ivy.page.goto(`/confirm-email?token=${encodeURIComponent(changeToken)}`);
    await heading(ivy.page, 'Confirm your new email');
    await ivy.page.getByText('Your email address is changed and confirmed.').waitFor();
    assert.equal(await ivy.page.evaluate<string>('location.search'), '', 'the token left the address bar');
    await ivy.page.getByRole('link', { name: 'Back to your account' }).click();
    await heading(ivy.page, 'My account');
    await ivy.page.getByText(`Now: ${moved}`).waitFor();
    // the new address signs in; the old one no longer does
    assert.equal((await postJson(system, '/api/v1/auth/login', { email: moved, password: invitee.password }, { 'x-tenant': slug })).status, 200);
    assert.equal((await postJson(system, '/api/v1/auth/login', { email: invitee.email, password: invitee.password }, { 'x-tenant': slug })).status, 401);

    await ivy.page.getByLabel('Password to delete').fill(invitee.password);
    await ivy.page.getByRole('button', { name: 'Delete my account' }).click();
    await ivy.page.getByRole('button', { name: 'Yes, delete my account for good' }).click();
    await heading(ivy.page, 'Sign in');
    await ivy.page.getByText('Your account is deleted.').waitFor();
    // the sign-in page offers the tenant's enabled provider
    await ivy.page.getByRole('link', { name: 'Sign in with GitHub' }).waitFor();
    await fitsPhone(ivy.page, 'Sign in');
    const gone = await postJson(system, '/api/v1/auth/login', { email: moved, password: invitee.password }, { 'x-tenant': slug });
    assert.equal(gone.status, 401);
    assertClean(ivy.problems);

    await signOutUi(boss.page);
  });

  test('the social sign-in return path: a refusal and an unknown code are stated, the code leaves the address bar', async () => {
    const { page, problems } = await openPage(await context());
    await page.goto('/oauth-callback?error=access_denied');
    await heading(page, 'Signing in');
    await page.getByText('The provider did not sign you in (access_denied).').waitFor();
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().includes('/api/v1/auth/oauth/exchange')), page.goto('/oauth-callback?code=not-a-real-code')]);
    assert.equal(answer.status(), 400);
    const { detail } = (await answer.json()) as { detail: string };
    await page.getByRole('alert').filter({ hasText: detail }).waitFor();
    assert.equal(await page.evaluate<string>('location.search'), '', 'the code left the address bar');
    await page.getByRole('link', { name: 'Back to sign in' }).click();
    await heading(page, 'Sign in');
    assertClean(problems, ['POST /api/v1/auth/oauth/exchange 400']);
  });
});
