/**
 * The SDK against the running system (real gateway, auth, PostgreSQL/Redis/NATS): the account's
 * whole life, one refresh on the wire for ten parallel calls on an expired access token, a
 * 429 retried after Retry-After, problem+json errors as GatehouseError, and the committed
 * types matching what the running system's /openapi.json generates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PASSWORD, startTestSystem, uniqueEmail, type TestSystem } from '../../../test/src/system';
import { generateTypes, SCHEMA_FILE } from '../scripts/generate';
import { createGatehouseClient, GatehouseError } from './index.js';

/** A fetch that records every request it sends (the wire, as the client sees it). */
function recordingFetch() {
  const log: { method: string; path: string; at: number; status?: number; doneAt?: number; retryAfter?: string | null }[] = [];
  const f = async (req: Request) => {
    const entry: (typeof log)[number] = { method: req.method, path: new URL(req.url).pathname, at: performance.now() };
    log.push(entry);
    const res = await fetch(req);
    entry.status = res.status;
    entry.doneAt = performance.now();
    entry.retryAfter = res.headers.get('retry-after');
    return res;
  };
  return { fetch: f, log };
}

describe('sdk: register → login → me → refresh under 10 parallel calls → logout', () => {
  let s: TestSystem;
  before(async () => {
    // the shortest access-token lifetime the config allows, so a token really expires in the test
    s = await startTestSystem({ env: { ACCESS_TOKEN_TTL_SEC: '30' } });
  });
  after(async () => {
    await s?.close();
  });

  test('the committed types are what the running system\'s /openapi.json generates (else: npm run sdk:generate)', async () => {
    const doc = (await (await s.fetch('/openapi.json')).json()) as Record<string, unknown>;
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    assert.ok(committed === (await generateTypes(doc)), 'packages/sdk/src/schema.ts is stale: run `npm run sdk:generate`');
  });

  test('the whole session, with exactly one refresh on the wire for ten parallel calls', async () => {
    const wire = recordingFetch();
    const gh = createGatehouseClient({ baseUrl: s.url, fetch: wire.fetch });
    const email = uniqueEmail('sdk');
    const reg = await gh.register({ email, password: PASSWORD });
    assert.equal(reg.user.email, email);

    // a second client, as another process would: login, me
    const changes: string[] = [];
    const client = createGatehouseClient({ baseUrl: s.url, fetch: wire.fetch, onChange: (_t, why) => changes.push(why) });
    const signedIn = await client.login({ email, password: PASSWORD });
    assert.ok('accessToken' in signedIn);
    const me = await client.me();
    assert.equal(me.email, email);
    const first = client.tokens!;
    assert.ok(first.refreshToken);

    // wait until the server itself refuses the access token (30 s lifetime)
    for (;;) {
      const r = await fetch(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${first.accessToken}` } });
      await r.body?.cancel();
      if (r.status === 401) break;
      await sleep(1000);
    }

    // 1) the client knows the token expired: one refresh, then ten calls
    wire.log.length = 0;
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.me()));
    assert.deepEqual(answers.map((a) => a.email), Array(10).fill(email));
    assert.equal(wire.log.filter((e) => e.path === '/api/v1/auth/refresh').length, 1, 'one refresh on the wire');
    assert.equal(wire.log.filter((e) => e.path === '/api/v1/auth/me' && e.status === 200).length, 10);
    const second = client.tokens!;
    assert.notEqual(second.refreshToken, first.refreshToken, 'the refresh token rotated');
    assert.ok(changes.includes('refreshed'));

    // 2) the client does not know (its clock says fine): ten 401s, still one refresh
    const stale = createGatehouseClient({ baseUrl: s.url, fetch: wire.fetch, tokens: { accessToken: first.accessToken, refreshToken: second.refreshToken, expiresAt: Date.now() + 3_600_000 } });
    wire.log.length = 0;
    const again = await Promise.all(Array.from({ length: 10 }, () => stale.me()));
    assert.deepEqual(again.map((a) => a.email), Array(10).fill(email));
    assert.equal(wire.log.filter((e) => e.path === '/api/v1/auth/refresh').length, 1, 'one refresh on the wire after the 401s');
    assert.ok(wire.log.filter((e) => e.path === '/api/v1/auth/me' && e.status === 401).length >= 1);

    // logout: the access token stops working at once
    const access = stale.tokens!.accessToken;
    await stale.logout();
    assert.equal(stale.tokens, undefined);
    const after = await fetch(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } });
    assert.equal(after.status, 401);
    assert.match(after.headers.get('content-type') ?? '', /application\/problem\+json/);
    await after.body?.cancel();

    // a spent refresh token is refused, as a GatehouseError (after the logout: a reuse would
    // have revoked the session, the server's reuse detection)
    const reuse = createGatehouseClient({ baseUrl: s.url, tokens: { accessToken: first.accessToken, refreshToken: first.refreshToken } });
    await assert.rejects(reuse.refresh(), (err: unknown) => err instanceof GatehouseError && err.status === 401 && err.code.length > 0);
    assert.equal(reuse.tokens, undefined, 'a refused refresh ends the local session');
  });

  test('problem+json errors are thrown as GatehouseError with code, status and detail', async () => {
    const gh = createGatehouseClient({ baseUrl: s.url });
    const err = await gh.login({ email: uniqueEmail('nobody'), password: 'wrong password 123' }).then(
      () => assert.fail('login should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GatehouseError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_credentials');
    assert.ok(err.detail.length > 0);
    const bad = await gh.register({ email: 'not-an-email', password: PASSWORD }).catch((e: unknown) => e);
    assert.ok(bad instanceof GatehouseError);
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 'validation_failed');
    assert.ok(bad.errors.length >= 1);
    const down = createGatehouseClient({ baseUrl: 'http://127.0.0.1:9' });
    const net = await down.me().catch((e: unknown) => e);
    assert.ok(net instanceof GatehouseError);
    assert.equal(net.status, 0);
    assert.equal(net.code, 'network_error');
  });
});

describe('sdk: 429 retried after Retry-After', () => {
  let s: TestSystem;
  before(async () => {
    // two requests per user per 2 s window
    s = await startTestSystem({ env: { RATE_LIMIT_USER_MAX: '2', RATE_LIMIT_USER_WINDOW_SEC: '2' } });
  });
  after(async () => {
    await s?.close();
  });

  test('a call over the limit waits for Retry-After and succeeds; without retries it throws rate_limited', async () => {
    const account = await s.register();
    const wire = recordingFetch();
    const gh = createGatehouseClient({ baseUrl: s.url, fetch: wire.fetch, tokens: { accessToken: account.accessToken, refreshToken: account.refreshToken } });
    for (let i = 0; i < 4; i++) await gh.me();
    const limited = wire.log.findIndex((e) => e.status === 429);
    assert.ok(limited >= 0, `a 429 was answered: ${wire.log.map((e) => e.status).join(',')}`);
    const first429 = wire.log[limited]!;
    const retry = wire.log[limited + 1]!;
    assert.ok(first429.retryAfter !== null, 'the 429 carried Retry-After');
    assert.ok(retry.at - first429.doneAt! >= Number(first429.retryAfter) * 1000 - 5, `retried ${retry.at - first429.doneAt!} ms after a Retry-After of ${first429.retryAfter} s`);
    assert.equal(wire.log.at(-1)!.status, 200);

    const impatient = createGatehouseClient({ baseUrl: s.url, retry: { maxRetries: 0 }, tokens: { accessToken: account.accessToken } });
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => impatient.me()));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.ok(refused.length >= 1);
    const e = refused[0];
    assert.ok(e instanceof GatehouseError);
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    assert.ok(e.retryAfter !== undefined);
  });
});
