import { eventually as poll } from '@gatehouse/platform/testing';
/**
 * Test-only helpers of the console's browser test: Chromium, pages that record their problems
 * (console errors, page errors, CSP violations, failed requests), UI steps, test data.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { PASSWORD, type TestSystem } from '../../../../../test/src/system';

const CHROMIUM = '/usr/bin/chromium';
/** false, or why the browser tests cannot run here */
export const chromiumMissing: false | string = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** where the test leaves one screenshot to look at (not committed) */
export const SCREENSHOT = '/tmp/gatehouse-console-account.png';

/** a per-process suffix for names, so runs against shared servers do not meet */
export const run = randomBytes(3).toString('hex');
let counter = 0;
/** A fresh account for one test. */
export function makeUser(label: string) {
  counter += 1;
  return { email: `${label}-${run}-${counter}@example.test`, username: `${label}_${run}_${counter}`, displayName: `${label[0]!.toUpperCase()}${label.slice(1)} Tester`, password: PASSWORD };
}
export type TestUser = ReturnType<typeof makeUser>;

/** What went wrong in a page: console errors and warnings, uncaught errors, CSP violations, failed requests. */
export interface PageProblems {
  console: string[];
  pageErrors: string[];
  csp: string[];
  failedResponses: string[];
}

/**
 * A page that records its problems. Failed requests are recorded too, because Chromium logs
 * each as a console error ("Failed to load resource"); {@link assertClean} tells the ones the
 * console handles on purpose (e.g. the users service's profile_not_found while its replica
 * catches up, which the console retries).
 */
export async function openPage(context: BrowserContext): Promise<{ page: Page; problems: PageProblems }> {
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
export function assertClean(problems: PageProblems, expected: string[] = []) {
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

export async function heading(page: Page, name: string) {
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor({ timeout: 20_000 });
}

export async function registerInUi(page: Page, u: TestUser) {
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create your account');
  await page.getByLabel('Email').fill(u.email);
  await page.getByLabel('Username (optional)').fill(u.username);
  await page.getByLabel('Display name (optional)').fill(u.displayName);
  await page.getByLabel('Password').fill(u.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await heading(page, 'My account');
}

export async function signInUi(page: Page, identifier: string, password: string) {
  await page.getByLabel('Email or username').fill(identifier);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

export async function signOutUi(page: Page) {
  await page.locator('#who').getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in');
}

/**
 * The one-time token of the newest emailed link of `kind` sent to `email` (dev mailbox). The
 * mail may be sent after the request answered (202), so it is waited for.
 */
export async function mailedToken(system: TestSystem, email: string, kind: 'verify-email' | 'reset-password'): Promise<string> {
  let token: string | undefined;
  await eventually(async () => {
    const mail = system.shared.mailer.messages().filter((m) => m.to === email && m.text.includes(`/${kind}?token=`)).at(-1);
    token = mail ? new RegExp(`/${kind}\\?token=([A-Za-z0-9_%-]+)`).exec(mail.text)?.[1] : undefined;
    assert.ok(token, `a ${kind} mail to ${email}`);
  });
  return decodeURIComponent(token!);
}

/** A small real PNG (the users service checks images by content). */
export function pngImage(): Buffer {
  const png = new PNG({ width: 16, height: 16 });
  for (let i = 0; i < png.data.length; i += 4) png.data.set([47, 91, 234, 255], i);
  return PNG.sync.write(png);
}

/** A datetime-local value in this machine's time zone (the browser's too). */
export function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Retries `check` until it passes (the audit log and the users replica are fed by events). */
export const eventually = (check: () => Promise<void>, timeoutMs = 15_000): Promise<void> => poll(check, timeoutMs, 250);

/** Debian's Chromium, headless, with the flags the machines need (and `extraArgs`, e.g. a fake camera). */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs] });
}

/** A JSON request to the system's gateway, outside the browser (setting up test data). */
export async function postJson<T = Record<string, unknown>>(system: TestSystem, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await system.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}
