/**
 * Passkeys in a real browser: headless Chromium (Debian's, driven by playwright-core) with the
 * DevTools virtual authenticator (CTAP2, internal, resident keys, user verification). The page
 * is served by this test on a loopback origin that forwards /api to the auth app, and calls
 * the endpoints with `navigator.credentials` and the browser's own JSON conversions.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { startAuth, uniqueIp, type Harness } from '../../testing';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;

let h: Harness;
let server: http.Server;
let browser: Browser;
let page: Page;
let origin: string;
let tenant: { id: string; slug: string };

/**
 * Serves a blank page and forwards /api/* to the auth app as the gateway would (tenant header,
 * client IP). The client IP is one of this file's own: the harness's Redis keyspace is shared,
 * and 127.0.0.1 there collects the password failures of every test whose client is loopback,
 * which once put this file's first login over THROTTLE_IP_MAX_FAILURES (429).
 */
function startPageServer(): Promise<http.Server> {
  const clientIp = uniqueIp();
  const s = http.createServer(async (req, res) => {
    if (!req.url?.startsWith('/api/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><meta charset="utf-8"><title>passkeys</title><body>passkeys</body>');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = { [TENANT_HEADER]: tenant.id, 'x-forwarded-for': clientIp };
    for (const name of ['content-type', 'authorization', 'origin']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name] as string;
    const r = await h.app.inject({ method: req.method as 'POST', url: req.url, headers, payload: chunks.length ? Buffer.concat(chunks) : undefined });
    res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') }).end(r.rawPayload);
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

/** What the page code uses of the browser (the repo's tsconfig has no DOM library). */
interface PageGlobals {
  navigator: { credentials: { create(o: unknown): Promise<{ toJSON(): unknown }>; get(o: unknown): Promise<{ toJSON(): unknown }> } };
  PublicKeyCredential: { parseCreationOptionsFromJSON(o: unknown): unknown; parseRequestOptionsFromJSON(o: unknown): unknown };
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies read by the assertions
type Json = Record<string, any>;

/** In the page: create a passkey with the options the server gives, and post it back. */
async function registerInPage(token: string) {
  return page.evaluate(async (accessToken): Promise<{ status: number; body: Json; rpId: string }> => {
    const { navigator, PublicKeyCredential } = globalThis as unknown as PageGlobals;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` };
    const options = (await (await fetch('/api/v1/auth/passkeys/register/options', { method: 'POST', headers, body: '{}' })).json()) as Json;
    const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
    const res = await fetch('/api/v1/auth/passkeys/register/verify', { method: 'POST', headers, body: JSON.stringify({ response: cred.toJSON(), name: 'virtual authenticator' }) });
    return { status: res.status, body: (await res.json()) as Json, rpId: options.rp.id as string };
  }, token);
}

/** In the page: sign in with a discoverable passkey; `replay` posts the same assertion a second time. */
async function loginInPage() {
  return page.evaluate(async (): Promise<{ status: number; body: Json; replayStatus: number; replayBody: Json }> => {
    const { navigator, PublicKeyCredential } = globalThis as unknown as PageGlobals;
    const headers = { 'content-type': 'application/json' };
    const options = (await (await fetch('/api/v1/auth/passkeys/login/options', { method: 'POST', headers, body: '{}' })).json()) as Json;
    const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    const body = JSON.stringify({ response: cred.toJSON() });
    const first = await fetch('/api/v1/auth/passkeys/login/verify', { method: 'POST', headers, body });
    const replay = await fetch('/api/v1/auth/passkeys/login/verify', { method: 'POST', headers, body });
    return { status: first.status, body: (await first.json()) as Json, replayStatus: replay.status, replayBody: (await replay.json()) as Json };
  });
}

describe('passkeys in headless Chromium', { skip }, () => {
  before(async () => {
    h = await startAuth();
    server = await startPageServer();
    // http://localhost is a secure context, so WebAuthn works without TLS; the RP id is
    // PUBLIC_URL's host (localhost) and this port is allowed through the tenant's allowedOrigins
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    tenant = await h.createTenant('active', { allowedOrigins: [origin] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    await page.goto(`${origin}/`);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await h?.close();
  });

  test('register a passkey, list it, sign in with it (amr hwk+user), a replayed assertion is refused, a deleted passkey no longer signs in', async () => {
    const r = await h.register({ tenant: tenant.id });
    const reg = await registerInPage(r.accessToken);
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    assert.equal(reg.rpId, 'localhost');
    assert.equal(reg.body.name, 'virtual authenticator');

    const list = await h.request('GET', '/api/v1/auth/passkeys', { token: r.accessToken, tenant: tenant.id });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json().items.map((p: { id: string }) => p.id), [reg.body.id]);

    const login = await loginInPage();
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal(login.body.user.id, r.userId);
    const claims = decodeJwt(login.body.accessToken);
    assert.deepEqual(claims.amr, ['hwk', 'user']);
    assert.equal(claims.tid, tenant.id);
    assert.equal(login.replayStatus, 401, 'the challenge works once');
    assert.equal(login.replayBody.code, 'invalid_credentials');
    assert.ok((await h.outbox()).some((e) => e.subject === 'auth.events.login_succeeded' && e.event.subject === r.userId && e.event.data.method === 'passkey'));

    const again = await h.request('GET', '/api/v1/auth/passkeys', { token: login.body.accessToken, tenant: tenant.id });
    assert.ok(again.json().items[0].lastUsedAt, 'the use is recorded');

    const del = await h.request('DELETE', `/api/v1/auth/passkeys/${reg.body.id}`, { token: r.accessToken, tenant: tenant.id });
    assert.equal(del.statusCode, 204);
    const gone = await loginInPage();
    assert.equal(gone.status, 401, 'the credential is unknown once deleted');
  });

  test('an origin outside PUBLIC_URL, the tenant host and allowedOrigins is refused at registration', async () => {
    const other = await h.createTenant('active', {});
    const r = await h.register({ tenant: other.id });
    const saved = tenant;
    tenant = other;
    try {
      const reg = await registerInPage(r.accessToken);
      assert.equal(reg.status, 400);
      assert.equal(reg.body.code, 'invalid_passkey');
    } finally {
      tenant = saved;
    }
  });
});
