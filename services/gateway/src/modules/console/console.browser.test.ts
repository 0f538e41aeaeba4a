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
import type { Browser } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { startTestSystem, PASSWORD, type TestSystem } from '../../../../../test/src/system';
import {
  SCREENSHOT,
  assertClean,
  chromiumMissing,
  eventually,
  heading,
  launchChromium,
  localInput,
  mailedToken,
  makeUser,
  openPage,
  pngImage,
  postJson,
  registerInUi,
  run,
  signInUi,
  signOutUi,
} from './console.browser.fixtures';

describe('web console in headless Chromium', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser;

  before(async () => {
    [system, browser] = await Promise.all([startTestSystem(), launchChromium()]);
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
      const { body: other } = await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', { email: ada.email, password: ada.password }, { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0) Firefox/140.0' });
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
      const reg = await postJson<{ accessToken: string; user: { id: string } }>(system, '/api/v1/auth/register', { email: cy.email, password: cy.password, username: cy.username, displayName: cy.displayName });
      assert.equal(reg.status, 201);
      const member = reg.body;

      const { page, problems } = await openPage(context);
      await page.goto('/');
      await signInUi(page, system.admin.email, system.admin.password);
      await heading(page, 'My account');

      await page.getByRole('link', { name: 'Users' }).click();
      await heading(page, 'Users');
      await page.getByLabel('Email or username starts with').fill(cy.username);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText(`1 user starting with “${cy.username}”.`).waitFor();
      assert.equal(await page.locator('li.user').count(), 1, 'the search found exactly the member');
      const row = page.locator(`li[data-user="${member.user.id}"]`);
      await row.getByText('Manage').click();
      await row.getByLabel('organizer').check();
      await row.getByRole('button', { name: 'Save roles' }).click();
      await page.getByText(/Roles of .* saved/).waitFor();
      await row.getByRole('button', { name: `Disable ${cy.displayName}` }).click();
      // destructive: the screen asks first
      await row.getByRole('button', { name: `Yes, disable ${cy.displayName}` }).click();
      await row.getByText('disabled', { exact: true }).waitFor();
      // disabled: the member's sessions are over
      await eventually(async () => {
        const me = await system.fetch('/api/v1/auth/me', { headers: { authorization: `Bearer ${member.accessToken}` } });
        assert.equal(me.status, 401);
      });
      await row.getByRole('button', { name: `Enable ${cy.displayName}` }).click();
      await row.getByRole('button', { name: `Disable ${cy.displayName}` }).waitFor();
      const adminToken = (await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', system.admin)).body.accessToken;
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

      let qrToken = '';
      await eventually(async () => {
        // signed in again on each try: the disable above cut the member's tokens, and a sign-in
        // racing the cut's arrival at the gateway may get a token issued before it
        const memberToken = (await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', { email: cy.email, password: cy.password })).body.accessToken;
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
      assert.equal((await postJson(system, '/api/v1/auth/register', { email: dee.email, password: dee.password })).status, 201);

      await page.goto('/');
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await heading(page, 'Forgot your password?');
      await page.getByLabel('Email').fill(dee.email);
      await page.getByRole('button', { name: 'Send reset link' }).click();
      await page.getByText(`If ${dee.email} has an account here`).waitFor();

      const token = await mailedToken(system, dee.email, 'reset-password');
      const newPassword = `${PASSWORD} renewed`;
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
      const changed = `${PASSWORD} changed`;
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

  // The enrollment mfaToken is the bearer of TOTP setup/confirm; the gateway lets it through
  // on those two routes only (regression: it used to answer 401 invalid_token).
  test('a tenant that requires two-step verification: sign-in leads through enrollment, and the session lands in the cookie', async () => {
    const slug = `mfa-${run}`;
    const root = (await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', system.admin)).body.accessToken;
    const created = await postJson(system, '/api/v1/admin/tenants', { slug, name: 'MFA required', settings: { mfaRequired: true } }, { authorization: `Bearer ${root}` });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    // The tenant is chosen with X-Tenant (allowed on loopback hosts) on every request of this browser.
    const context = await browser.newContext({ baseURL: system.url, viewport: { width: 1000, height: 900 }, extraHTTPHeaders: { 'x-tenant': slug } });
    try {
      const { page, problems } = await openPage(context);
      const fay = makeUser('fay');
      assert.equal((await postJson(system, '/api/v1/auth/register', { email: fay.email, password: fay.password }, { 'x-tenant': slug })).status, 201);

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
