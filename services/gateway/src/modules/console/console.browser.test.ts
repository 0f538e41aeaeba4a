/**
 * The web console in a real browser: the whole system in this process (auth, users, audit
 * and the gateway on real HTTP, as `npm start` wires them; the test run's PostgreSQL, Redis
 * and NATS when set), driven with Debian's Chromium through playwright-core. What a person
 * does: register, see their account, reload and stay signed in (refresh cookie), verify the
 * email from the emailed link, edit the profile, see the QR code and their activity, sign out;
 * then two-step verification end to end, and the admin and organizer screens. Every page must
 * run without console errors, page errors or CSP violations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { PNG } from 'pngjs';
import { startTestSystem, TEST_PASSWORD, type System } from '../../../../../test/src/e2e/system';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = '/tmp/gatehouse-console-account.png';

const run = randomBytes(3).toString('hex');
let counter = 0;
/** A fresh account for one test. */
function makeUser(label: string) {
  counter += 1;
  return { email: `${label}-${run}-${counter}@example.test`, username: `${label}_${run}_${counter}`, displayName: `${label[0]!.toUpperCase()}${label.slice(1)} Tester`, password: TEST_PASSWORD };
}
type TestUser = ReturnType<typeof makeUser>;

/** What went wrong in a page: console errors and warnings, uncaught errors, CSP violations, failed requests. */
interface PageProblems {
  console: string[];
  pageErrors: string[];
  csp: string[];
  failedResponses: string[];
}

/**
 * A page that records its problems. Failed requests are recorded too, because Chromium logs
 * each as a console error ("Failed to load resource"); `expectedFailures` lists those the
 * console handles on purpose (e.g. the users service's profile_not_found while its replica
 * catches up, which the console retries).
 */
async function openPage(context: BrowserContext): Promise<{ page: Page; problems: PageProblems }> {
  const page = await context.newPage();
  const problems: PageProblems = { console: [], pageErrors: [], csp: [], failedResponses: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.failedResponses.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  // Injected by DevTools before any page script (not subject to the page's CSP), so a
  // violation that the console would not print is still caught.
  await page.exposeFunction('__reportCsp', (v: string) => problems.csp.push(v));
  await page.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (e) => window.__reportCsp(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));",
  });
  return { page, problems };
}

/** Failed requests the console makes on purpose and handles (retried or shown), in any test. */
const HANDLED_FAILURES = [/^GET \/api\/v1\/users\/me 404$/];

/**
 * Asserts the page had no problem. `expected` lists failed requests the test caused on purpose
 * (`"POST /api/v1/auth/login 401"`), each of which must have happened; Chromium's "Failed to
 * load resource" console line for each expected or handled failure is not counted.
 */
function assertClean(problems: PageProblems, expected: string[] = []) {
  const pending = [...expected];
  const unexpected = problems.failedResponses.filter((f) => {
    const i = pending.indexOf(f);
    if (i >= 0) {
      pending.splice(i, 1);
      return false;
    }
    return !HANDLED_FAILURES.some((re) => re.test(f));
  });
  assert.deepEqual(pending, [], 'the failed requests the test expected');
  assert.deepEqual(unexpected, [], 'failed requests');
  const loadErrors = problems.console.filter((m) => /^error: Failed to load resource: the server responded with a status of \d+/.test(m));
  assert.ok(loadErrors.length <= problems.failedResponses.length, 'every "Failed to load resource" line is one of the failed requests above');
  assert.deepEqual(problems.console.filter((m) => !loadErrors.includes(m)), [], 'console errors or warnings');
  assert.deepEqual(problems.pageErrors, [], 'uncaught page errors');
  assert.deepEqual(problems.csp, [], 'CSP violations');
}

async function heading(page: Page, name: string) {
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor({ timeout: 20_000 });
}

async function registerInUi(page: Page, u: TestUser) {
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create your account');
  await page.getByLabel('Email').fill(u.email);
  await page.getByLabel('Username (optional)').fill(u.username);
  await page.getByLabel('Display name (optional)').fill(u.displayName);
  await page.getByLabel('Password').fill(u.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await heading(page, 'My account');
}

async function signInUi(page: Page, identifier: string, password: string) {
  await page.getByLabel('Email or username').fill(identifier);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signOutUi(page: Page) {
  await page.locator('#who').getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in');
}

/**
 * The one-time token of the newest emailed link of `kind` sent to `email` (dev mailbox). The
 * mail may be sent after the request answered (202), so it is waited for.
 */
async function mailedToken(system: System, email: string, kind: 'verify-email' | 'reset-password'): Promise<string> {
  let token: string | undefined;
  await eventually(async () => {
    const mail = system.shared.mailer.messages().filter((m) => m.to === email && m.text.includes(`/${kind}?token=`)).at(-1);
    token = mail ? new RegExp(`/${kind}\\?token=([A-Za-z0-9_%-]+)`).exec(mail.text)?.[1] : undefined;
    assert.ok(token, `a ${kind} mail to ${email}`);
  });
  return decodeURIComponent(token!);
}

/** A small real PNG (the users service checks images by content). */
function pngImage(): Buffer {
  const png = new PNG({ width: 16, height: 16 });
  for (let i = 0; i < png.data.length; i += 4) png.data.set([47, 91, 234, 255], i);
  return PNG.sync.write(png);
}

/** A datetime-local value in this machine's time zone (the browser's too). */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Retries `check` until it passes (the audit log and the users replica are fed by events). */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('web console in headless Chromium', { skip }, () => {
  let system: System;
  let browser: Browser;

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem(), chromium.launch({ executablePath: CHROMIUM, args: ARGS })]);
  });
  after(async () => {
    await browser?.close();
    await system?.close();
  });

  test('register, see me, reload and stay signed in (cookie refresh), verify email, profile, QR, activity, sessions, sign out', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1100, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      const ada = makeUser('ada');

      await page.goto('/');
      await heading(page, 'Sign in');
      await registerInUi(page, ada);
      await page.getByText(ada.email, { exact: true }).waitFor();
      await page.getByRole('list', { name: 'Active sessions' }).getByText('this device').waitFor();

      // Browser mode: the refresh token is only in an HttpOnly cookie; nothing in storage.
      const cookies = await context.cookies();
      const refresh = cookies.find((c) => c.name === 'gatehouse_refresh');
      assert.ok(refresh, 'the refresh cookie is set');
      assert.equal(refresh.httpOnly, true);
      assert.equal(refresh.sameSite, 'Strict');
      assert.equal(refresh.path, '/api/v1/auth');
      const stored = await page.evaluate<string>('JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie');
      assert.doesNotMatch(stored, /eyJ|gatehouse_refresh/, 'no token in storage or in document.cookie');
      assert.ok(!stored.includes(refresh.value));

      // A reload keeps the session: the page asks for a new access token with the cookie.
      await page.reload();
      await heading(page, 'My account');
      await page.getByText(ada.email, { exact: true }).waitFor();
      const rotated = (await context.cookies()).find((c) => c.name === 'gatehouse_refresh');
      assert.ok(rotated && rotated.value !== refresh.value, 'the refresh token rotated');
      assert.equal(await page.getByRole('list', { name: 'Active sessions' }).getByRole('listitem').count(), 1);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // The emailed verification link opens the console, which confirms the address and
      // takes the token out of the address bar.
      const token = await mailedToken(system, ada.email, 'verify-email');
      await page.goto(`/verify-email?token=${encodeURIComponent(token)}`);
      await page.getByText('Your email address is confirmed').waitFor();
      assert.equal(await page.evaluate<string>('location.search'), '');
      await page.getByRole('link', { name: 'Go to my account' }).click();
      await heading(page, 'My account');
      await page.getByText('verified', { exact: true }).waitFor();

      // Profile: edit, and the attendance QR code drawn from an authenticated request.
      await page.getByRole('link', { name: 'Profile' }).click();
      await heading(page, 'My profile');
      await page.getByLabel('Location').fill('London');
      await page.getByLabel('Bio').fill('First programmer.\nAnalytical engine.');
      await page.getByRole('button', { name: 'Save profile' }).click();
      await page.getByText('Your profile is saved.').waitFor();
      const qr = page.getByRole('img', { name: 'Your attendance QR code' });
      await qr.waitFor();
      assert.ok(await qr.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0), 'the QR image rendered');
      assert.match(String(await qr.getAttribute('src')), /^blob:/);
      await page.reload();
      await heading(page, 'My profile');
      assert.equal(await page.getByLabel('Location').inputValue(), 'London');

      // Picture: upload (multipart through the gateway), shown from its URL; then removed.
      await page.setInputFiles('#avatar-file', { name: 'me.png', mimeType: 'image/png', buffer: pngImage() });
      const avatar = page.getByRole('img', { name: 'Your profile picture' });
      await avatar.waitFor();
      assert.match(String(await avatar.getAttribute('src')), /^\/api\/v1\/users\/avatars\//);
      await eventually(async () => assert.ok(await avatar.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth === 16)));
      await page.getByRole('button', { name: 'Remove picture' }).click();
      await page.getByText('Your picture is removed.').waitFor();
      assert.equal(await page.getByRole('img', { name: 'Your profile picture' }).count(), 0);

      // Another session (a sign-in elsewhere) is listed and can be revoked from here.
      const elsewhere = await system.fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (Windows NT 10.0) Firefox/140.0' }, body: JSON.stringify({ email: ada.email, password: ada.password }) });
      const other = (await elsewhere.json()) as { accessToken: string };
      await page.getByRole('link', { name: 'Account' }).click();
      await heading(page, 'My account');
      const sessions = page.getByRole('list', { name: 'Active sessions' }).getByRole('listitem');
      await sessions.nth(1).waitFor();
      assert.equal(await sessions.count(), 2);
      await page.getByRole('button', { name: /^Revoke session of Firefox on Windows/ }).click();
      await page.getByText('The session is revoked.').waitFor();
      assert.equal(await sessions.count(), 1);
      await eventually(async () => {
        const me = await system.fetch('/api/v1/auth/me', { headers: { authorization: `Bearer ${other.accessToken}` } });
        assert.equal(me.status, 401, 'the revoked session\'s access token is refused');
      });

      // Activity, from the audit log (fed by events: give it a moment).
      await eventually(async () => {
        await page.getByRole('link', { name: 'Activity' }).click();
        await heading(page, 'My activity');
        await page.getByRole('list', { name: 'My activity' }).getByText('Email verified').waitFor({ timeout: 1000 });
      });

      // At 360 px nothing overflows sideways.
      await page.setViewportSize({ width: 360, height: 740 });
      await page.getByRole('link', { name: 'Account' }).click();
      await heading(page, 'My account');
      assert.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= 360'), 'no horizontal scrolling at 360 px');

      // Sign out: back to sign-in, the cookie is gone, the session is over at the server, and a
      // reload stays signed out.
      const before = (await context.cookies()).find((c) => c.name === 'gatehouse_refresh');
      await signOutUi(page);
      assert.equal((await context.cookies()).find((c) => c.name === 'gatehouse_refresh'), undefined);
      const replay = await page.evaluate(async (refreshToken) => (await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) })).status, before!.value);
      assert.equal(replay, 401);
      await page.reload();
      await heading(page, 'Sign in');

      assertClean(problems, ['POST /api/v1/auth/refresh 401']);
    } finally {
      await context.close();
    }
  });

  test('two-step verification: turn it on in the console, then sign in with a code and with a backup code', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1000, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      const bob = makeUser('bob');
      await page.goto('/');
      await registerInUi(page, bob);

      await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
      await page.getByRole('img', { name: /QR code to add Gatehouse/ }).waitFor();
      const secret = (await page.locator('code.secret').textContent())!.trim();
      const totp = new TOTP({ secret: Secret.fromBase32(secret) });
      await page.getByLabel('Authentication code').fill(totp.generate());
      await page.getByRole('button', { name: 'Turn on' }).click();
      const codes = page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem');
      await codes.first().waitFor();
      assert.equal(await codes.count(), 10);
      const backup = (await codes.first().textContent())!.trim();
      await page.getByRole('button', { name: 'Done' }).click();
      await signOutUi(page);

      // Password, then the code of the next time step (±1 step is accepted; the current one was used).
      await signInUi(page, bob.username, bob.password);
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      await page.getByLabel('Authentication code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
      await page.getByRole('button', { name: 'Verify' }).click();
      await heading(page, 'My account');
      await page.getByText(bob.email, { exact: true }).waitFor();
      await signOutUi(page);

      // A wrong code shows the API's message; then a backup code works.
      await signInUi(page, bob.email, bob.password);
      await page.getByLabel('Authentication code').fill('000000');
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('alert').filter({ hasText: /code/i }).waitFor();
      await page.getByRole('button', { name: 'Use a backup code' }).click();
      await page.getByLabel('Backup code').fill(backup);
      await page.getByRole('button', { name: 'Verify' }).click();
      await heading(page, 'My account');
      await page.getByRole('button', { name: 'Sign out everywhere' }).click();
      await heading(page, 'Sign in');
      await page.reload();
      await heading(page, 'Sign in');

      assertClean(problems, ['POST /api/v1/auth/login/mfa 401']);
    } finally {
      await context.close();
    }
  });

  test('admin and organizer screens: find a user, grant organizer, disable and enable; create an event, check a member in by QR token, download the CSV', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    try {
      // A member to manage and to check in (through the API: the UI path is the first test's).
      const cy = makeUser('cy');
      const reg = await system.fetch('/api/v1/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: cy.email, password: cy.password, username: cy.username, displayName: cy.displayName }) });
      assert.equal(reg.status, 201);
      const member = (await reg.json()) as { accessToken: string; user: { id: string } };

      const { page, problems } = await openPage(context);
      await page.goto('/');
      await signInUi(page, system.admin.email, system.admin.password);
      await heading(page, 'My account');

      await page.getByRole('link', { name: 'Users' }).click();
      await heading(page, 'Users');
      await page.getByLabel('Email or username contains').fill(cy.username);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText(`1 user matching “${cy.username}”.`).waitFor();
      assert.equal(await page.locator('li.user').count(), 1, 'the search found exactly the member');
      const row = page.locator(`li[data-user="${member.user.id}"]`);
      await row.getByText('Manage').click();
      await row.getByLabel('organizer').check();
      await row.getByRole('button', { name: 'Save roles' }).click();
      await page.getByText(/Roles of .* saved/).waitFor();
      await row.getByRole('button', { name: `Disable ${cy.displayName}` }).click();
      await row.getByText('disabled', { exact: true }).waitFor();
      // disabled: the member's sessions are over
      await eventually(async () => {
        const me = await system.fetch('/api/v1/auth/me', { headers: { authorization: `Bearer ${member.accessToken}` } });
        assert.equal(me.status, 401);
      });
      await row.getByRole('button', { name: `Enable ${cy.displayName}` }).click();
      await row.getByRole('button', { name: `Disable ${cy.displayName}` }).waitFor();
      const admin = await system.fetch(`/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: system.admin.email, password: system.admin.password }) });
      const adminToken = ((await admin.json()) as { accessToken: string }).accessToken;
      const saved = (await (await system.fetch(`/api/v1/admin/users/${member.user.id}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { roles: string[]; disabled?: boolean };
      assert.deepEqual([...saved.roles].sort(), ['organizer', 'user']);
      assert.notEqual(saved.disabled, true);

      // Events: create one, check the member in with the token their QR code carries.
      await page.getByRole('link', { name: 'Events' }).click();
      await heading(page, 'Events');
      await page.getByText('Create an event').click();
      const title = `Standup ${run}`;
      await page.getByLabel('Title').fill(title);
      await page.getByLabel('Location (optional)').fill('Room 4');
      // started five minutes ago (check-in is open from 30 minutes before the start to the end)
      await page.getByLabel('Starts').fill(localInput(new Date(Date.now() - 5 * 60_000)));
      await page.getByLabel('Ends').fill(localInput(new Date(Date.now() + 55 * 60_000)));
      await page.getByRole('button', { name: 'Create event' }).click();
      const event = page.locator('li.event').filter({ hasText: title });
      await event.waitFor();
      await event.getByText('Attendance').click();
      await event.getByText('Nobody has checked in yet.').waitFor();

      const relogin = await system.fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: cy.email, password: cy.password }) });
      const memberToken = ((await relogin.json()) as { accessToken: string }).accessToken;
      let qrToken = '';
      await eventually(async () => {
        const r = await system.fetch('/api/v1/users/me/qr/token', { headers: { authorization: `Bearer ${memberToken}` } });
        assert.equal(r.status, 200);
        qrToken = ((await r.json()) as { token: string }).token;
      });
      await event.getByLabel('Member’s QR code').fill(qrToken);
      await event.getByRole('button', { name: 'Record' }).click();
      const attendance = event.getByRole('list', { name: `Attendance at ${title}` });
      await attendance.getByText(cy.displayName).waitFor();
      await attendance.getByText('present').waitFor();

      const [download] = await Promise.all([page.waitForEvent('download'), event.getByRole('button', { name: 'Download CSV' }).click()]);
      assert.match(download.suggestedFilename(), /^attendance-[0-9a-f-]{36}\.csv$/);
      const csv = await (await download.createReadStream()).toArray();
      assert.match(Buffer.concat(csv).toString('utf8'), new RegExp(member.user.id));

      assertClean(problems);
    } finally {
      await context.close();
    }
  });

  test('forgot and reset password through the emailed link; a wrong password and a used link show the API\'s message', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1000, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      const dee = makeUser('dee');
      const reg = await system.fetch('/api/v1/auth/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: dee.email, password: dee.password }) });
      assert.equal(reg.status, 201);

      await page.goto('/');
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await heading(page, 'Forgot your password?');
      await page.getByLabel('Email').fill(dee.email);
      await page.getByRole('button', { name: 'Send reset link' }).click();
      await page.getByText(`If ${dee.email} has an account here`).waitFor();

      const token = await mailedToken(system, dee.email, 'reset-password');
      const newPassword = `${TEST_PASSWORD} renewed`;
      await page.goto(`/reset-password?token=${encodeURIComponent(token)}`);
      await heading(page, 'Choose a new password');
      assert.equal(await page.evaluate<string>('location.search'), '', 'the token left the address bar');
      await page.getByLabel('New password', { exact: true }).fill(newPassword);
      await page.getByRole('button', { name: 'Set password' }).click();
      await heading(page, 'Sign in');
      await page.getByText('Your password is changed').waitFor();

      // The old password: the API's own problem detail is what the page shows.
      const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login?mode=cookie')), signInUi(page, dee.email, dee.password)]);
      assert.equal(answer.status(), 401);
      const { detail } = (await answer.json()) as { detail: string };
      await page.getByRole('alert').filter({ hasText: detail }).waitFor();

      await signInUi(page, dee.email, newPassword);
      await heading(page, 'My account');

      // Change it again from the account page (needs the current one).
      const changed = `${TEST_PASSWORD} changed`;
      await page.getByLabel('Current password').fill(newPassword);
      await page.getByLabel('New password', { exact: true }).fill(changed);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.getByText('Your password is changed; your other sessions are signed out.').waitFor();
      await signOutUi(page);
      await signInUi(page, dee.email, changed);
      await heading(page, 'My account');
      await signOutUi(page);

      // The link works once.
      await page.goto(`/reset-password?token=${encodeURIComponent(token)}`);
      await page.getByLabel('New password', { exact: true }).fill(`${newPassword} again`);
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.getByRole('alert').filter({ hasText: 'This link has expired or was already used.' }).waitFor();

      assertClean(problems, ['POST /api/v1/auth/login 401', 'POST /api/v1/auth/password/reset 400']);
    } finally {
      await context.close();
    }
  });

  test('two tabs: reloading both at once keeps the session (refreshes take turns), and signing out in one signs out the other', async () => {
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1000, height: 800 } });
    try {
      const a = await openPage(context);
      const b = await openPage(context);
      const eve = makeUser('eve');
      await a.page.goto('/');
      await registerInUi(a.page, eve);
      await b.page.goto('/#/profile');
      await heading(b.page, 'My profile');

      // Refresh tokens are single use and a reused one ends the session: two tabs refreshing
      // with the same cookie at once must not (regression guard for the cross-tab refresh lock).
      for (let round = 0; round < 3; round++) {
        await Promise.all([a.page.reload(), b.page.reload()]);
        await Promise.all([heading(a.page, 'My account'), heading(b.page, 'My profile')]);
      }
      await a.page.getByRole('list', { name: 'Active sessions' }).getByText('this device').waitFor();
      assert.equal(await a.page.getByRole('list', { name: 'Active sessions' }).getByRole('listitem').count(), 1);

      await signOutUi(a.page);
      await heading(b.page, 'Sign in');
      await b.page.getByText('You signed out in another tab.').waitFor();

      assertClean(a.problems);
      assertClean(b.problems);
    } finally {
      await context.close();
    }
  });

  // Known gap (not the console's): API.md has the enrollment mfaToken used as the bearer of
  // POST /mfa/totp/setup and /confirm, but the gateway's token guard refuses every bearer that
  // is not an access token (401 invalid_token) before auth sees it. The auth service accepts it
  // when called directly (services/auth mfa tests). Runs as a todo until the gateway lets these
  // two routes through; then drop the todo.
  test('a tenant that requires two-step verification: sign-in leads through enrollment, and the session lands in the cookie', { todo: 'the gateway refuses the enrollment mfaToken as a bearer (401 invalid_token)' }, async () => {
    const slug = `mfa-${run}`;
    const login = await system.fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: system.admin.email, password: system.admin.password }) });
    const root = ((await login.json()) as { accessToken: string }).accessToken;
    const created = await system.fetch('/api/v1/admin/tenants', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${root}` },
      body: JSON.stringify({ slug, name: 'MFA required', settings: { mfaRequired: true } }),
    });
    assert.equal(created.status, 201, await created.clone().text());

    // The tenant is chosen with X-Tenant (allowed on loopback hosts) on every request of this browser.
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1000, height: 900 }, extraHTTPHeaders: { 'x-tenant': slug } });
    try {
      const { page, problems } = await openPage(context);
      const fay = makeUser('fay');
      const reg = await system.fetch('/api/v1/auth/register', { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': slug }, body: JSON.stringify({ email: fay.email, password: fay.password }) });
      assert.equal(reg.status, 201);

      await page.goto('/');
      await signInUi(page, fay.email, fay.password);
      await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
      await page.locator('main .qr img, main [role="alert"]:not([hidden])').first().waitFor();
      const refused = page.locator('main [role="alert"]:not([hidden])');
      assert.equal(await refused.count(), 0, `enrollment refused: ${await refused.first().textContent().catch(() => '')}`);
      const secret = (await page.locator('code.secret').textContent())!.trim();
      await page.getByLabel('Authentication code').fill(new TOTP({ secret: Secret.fromBase32(secret) }).generate());
      await page.getByRole('button', { name: 'Turn on and sign in' }).click();
      const codes = page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem');
      await codes.first().waitFor();
      assert.equal(await codes.count(), 10);
      // the sign-in the enrollment completed moved into the HttpOnly cookie
      assert.ok((await context.cookies()).some((c) => c.name === 'gatehouse_refresh' && c.httpOnly));
      await page.getByRole('button', { name: /I saved them/ }).click();
      await heading(page, 'My account');
      await page.locator('#main').getByText(fay.email, { exact: true }).waitFor();
      await page.reload();
      await heading(page, 'My account');

      assertClean(problems);
    } finally {
      await context.close();
    }
  });
});
