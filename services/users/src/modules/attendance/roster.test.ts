/** Event rosters: expected members appear in the attendance report as present, late or absent. */
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, startTestUsers, type TestUsers } from '../../testing';

let t: TestUsers;
before(async () => {
  t = await startTestUsers();
});
after(async () => {
  t.clock.set(null);
  await t.close();
});

const MIN = 60_000;
const START = new Date('2031-06-10T09:00:00Z');
const END = new Date(START.getTime() + 60 * MIN);

function call(method: 'GET' | 'PUT' | 'POST', url: string, token: string, payload?: object) {
  return t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
}

async function checkInAt(at: Date, orgToken: string, eventId: string, memberToken: string) {
  t.clock.set(at);
  try {
    const qr = (await call('GET', '/api/v1/users/me/qr/token', memberToken)).json().token;
    return await call('POST', `/api/v1/events/${eventId}/check-ins`, orgToken, { qrToken: qr });
  } finally {
    t.clock.set(null);
  }
}

describe('event roster', () => {
  test('PUT /roster replaces it; the report shows present, late and absent for expected members', async () => {
    const org = await t.createUser({ displayName: 'Org' });
    const orgToken = await t.mint({ sub: org.id, tid: org.tenantId, roles: ['organizer'] });
    const [a, b, c, walkIn] = [
      await t.createUser({ tenantId: org.tenantId, displayName: 'Ann' }),
      await t.createUser({ tenantId: org.tenantId, displayName: 'Bob' }),
      await t.createUser({ tenantId: org.tenantId, displayName: 'Cid' }),
      await t.createUser({ tenantId: org.tenantId, displayName: 'Walk' }),
    ];
    const ev = (await call('POST', '/api/v1/events', orgToken, { title: 'Class', startsAt: START.toISOString(), endsAt: END.toISOString(), lateAfterMinutes: 10 })).json();

    const put = await call('PUT', `/api/v1/events/${ev.id}/roster`, orgToken, { userIds: [a!.id, b!.id, c!.id] });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json().items.map((i: { displayName: string }) => i.displayName), ['Ann', 'Bob', 'Cid']);

    assert.equal((await checkInAt(new Date(START.getTime() + MIN), orgToken, ev.id, a!.token)).statusCode, 201);
    assert.equal((await checkInAt(new Date(START.getTime() + 15 * MIN), orgToken, ev.id, b!.token)).statusCode, 201);
    assert.equal((await checkInAt(new Date(START.getTime() + 2 * MIN), orgToken, ev.id, walkIn!.token)).statusCode, 201);

    const report = (await call('GET', `/api/v1/events/${ev.id}/attendance`, orgToken)).json().items as Array<{ userId: string; status: string; expected: boolean; checkedInAt: string | null }>;
    const by = new Map(report.map((r) => [r.userId, r]));
    assert.equal(by.get(a!.id)!.status, 'present');
    assert.equal(by.get(b!.id)!.status, 'late');
    assert.equal(by.get(c!.id)!.status, 'absent');
    assert.equal(by.get(c!.id)!.checkedInAt, null);
    assert.equal(by.get(c!.id)!.expected, true);
    assert.equal(by.get(walkIn!.id)!.expected, false, 'a walk-in is listed, not expected');
    const csv = (await t.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}/attendance.csv`, headers: bearer(orgToken) })).body;
    assert.match(csv, /absent/);

    // replacing: c leaves the roster, no longer absent
    const again = await call('PUT', `/api/v1/events/${ev.id}/roster`, orgToken, { userIds: [a!.id, b!.id] });
    assert.equal(again.json().items.length, 2);
    const r2 = (await call('GET', `/api/v1/events/${ev.id}/attendance`, orgToken)).json().items as Array<{ userId: string }>;
    assert.ok(!r2.some((r) => r.userId === c!.id));
    assert.equal((await call('GET', `/api/v1/events/${ev.id}/roster`, orgToken)).json().items.length, 2);
    assert.equal((await call('PUT', `/api/v1/events/${ev.id}/roster`, orgToken, { userIds: [] })).json().items.length, 0);
  });

  test('unknown or other-tenant members: 400; a plain member: 403; another tenant\'s event: 404', async () => {
    const org = await t.createUser();
    const orgToken = await t.mint({ sub: org.id, tid: org.tenantId, roles: ['organizer'] });
    const ev = (await call('POST', '/api/v1/events', orgToken, { title: 'X', startsAt: START.toISOString(), endsAt: END.toISOString() })).json();
    const foreign = await t.createUser({ tenantId: randomUUID() });
    const bad = await call('PUT', `/api/v1/events/${ev.id}/roster`, orgToken, { userIds: [foreign.id, randomUUID()] });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');
    assert.equal(bad.json().errors.length, 2);
    const member = await t.createUser({ tenantId: org.tenantId });
    assert.equal((await call('PUT', `/api/v1/events/${ev.id}/roster`, member.token, { userIds: [] })).statusCode, 403);
    const otherOrg = await t.createUser({ tenantId: randomUUID() });
    const otherToken = await t.mint({ sub: otherOrg.id, tid: otherOrg.tenantId, roles: ['organizer'] });
    assert.equal((await call('PUT', `/api/v1/events/${ev.id}/roster`, otherToken, { userIds: [] })).statusCode, 404);
    assert.equal((await call('GET', `/api/v1/events/${ev.id}/roster`, otherToken)).statusCode, 404);
  });
});
