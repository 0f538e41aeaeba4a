/**
 * Issues 4 and 5, consumers down: the users and audit services are stopped while people sign
 * up, then started again on the same databases. Guards the durable consumers (`users-replica`,
 * `audit-ingest`) resuming where they stopped, and their inboxes making replays harmless: every
 * profile exists and the audit trail has every entry exactly once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { auditEntriesOfType, call, eventually, login, mapLimit, register, type Account } from '../client';
import { describeBackends, startTestSystem, type TestSystem } from '../system';

const BEFORE = 5;
const WHILE_DOWN = 25;
const CREATED = 'user.events.created';

describe('e2e: users and audit down while users register', () => {
  let system: TestSystem;

  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await system?.close();
  });

  test('after both restart, every profile and audit entry exists once', { timeout: 240_000 }, async (t) => {
    t.diagnostic(`backends: ${describeBackends(system)}`);
    const url = system.url;
    const admin = await login(url, system.admin.email, system.admin.password);
    // Some accounts are consumed before the stop, so a replay after the restart would show as a duplicate.
    const early = await mapLimit(Array.from({ length: BEFORE }), 4, () => register(url));
    await eventually(async () => assert.equal((await auditEntriesOfType(url, admin.accessToken, CREATED)).length, BEFORE + 1), 20_000);
    await eventually(async () => {
      for (const a of early) assert.equal((await call(url, 'GET', `/api/v1/users/${a.id}`, { token: admin.accessToken })).status, 200);
    }, 20_000);

    await system.stopBackend('users');
    await system.stopBackend('audit');
    const down = await call(url, 'GET', '/api/v1/audit/me', { token: admin.accessToken });
    assert.ok(down.status >= 502 && down.status <= 504, `the gateway says the audit service is unreachable (${down.status})`);
    assert.equal(String(down.headers['content-type']).startsWith('application/problem+json'), true);

    const late = await mapLimit(Array.from({ length: WHILE_DOWN }), 4, () => register(url));
    // A profile edit by an early user is an event the users service must not lose either.
    const renamed = early[0]!;
    const patched = await call(url, 'PATCH', '/api/v1/users/me', { token: renamed.accessToken, body: { displayName: 'x' } });
    assert.ok(patched.status >= 502, 'the users service is down: its routes fail at the gateway');

    await system.startBackend('users');
    await system.startBackend('audit');

    const all: Account[] = [...early, ...late];
    const ids = new Set(all.map((a) => a.id));
    await eventually(async () => {
      const entries = await auditEntriesOfType(url, admin.accessToken, CREATED);
      assert.equal(entries.filter((e) => ids.has(e.subjectId)).length, all.length);
    }, 60_000, 250);
    await eventually(async () => {
      const missing = (
        await mapLimit(all, 8, async (a) => ((await call(url, 'GET', `/api/v1/users/${a.id}`, { token: admin.accessToken })).status === 200 ? undefined : a.id))
      ).filter(Boolean);
      assert.deepEqual(missing, [], 'every account has a profile');
    }, 60_000, 250);

    await sleep(1500);
    const entries = await auditEntriesOfType(url, admin.accessToken, CREATED);
    assert.equal(entries.length, all.length + 1, 'one entry per account and the superadmin: none lost, none doubled');
    assert.equal(new Set(entries.map((e) => e.eventId)).size, entries.length);
    const logins = await auditEntriesOfType(url, admin.accessToken, 'auth.events.login_succeeded');
    assert.equal(logins.filter((e) => e.actorId === admin.id).length, 1, "the superadmin's one login, recorded once");
    const verify = await call(url, 'GET', '/api/v1/audit/verify', { token: admin.accessToken });
    assert.equal(verify.body.ok, true, verify.text);

    // The restarted services serve requests again through the same gateway.
    const profile = await call(url, 'PATCH', '/api/v1/users/me', { token: renamed.accessToken, body: { displayName: 'Back again' } });
    assert.equal(profile.status, 200, profile.text);
    const mine = await call(url, 'GET', '/api/v1/audit/me', { token: renamed.accessToken });
    assert.equal(mine.status, 200, mine.text);
  });
});
