import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CloudEvent } from '@gatehouse/platform/events';
import { bearer, eventually, startTestUsers, type TestUsers } from '../../testing';
import { csvCell } from './attendance.csv';

let t: TestUsers;
const published: CloudEvent[] = [];
let stopListening: () => Promise<void>;

before(async () => {
  t = await startTestUsers();
  const sub = await t.transport.subscribe({
    durable: 'attendance-test-listener',
    subjects: ['attendance.events.>'],
    handler: async (e) => {
      published.push(e);
    },
  });
  stopListening = () => sub.stop();
});
after(async () => {
  t.clock.set(null);
  await stopListening();
  await t.close();
});

const MIN = 60_000;
/** Event start used by the boundary tests; check-in opens 30 min before (CHECK_IN_EARLY_MINUTES default). */
const START = new Date('2031-05-10T09:00:00Z');
const END = new Date(START.getTime() + 60 * MIN);

/** A tenant with an organizer (who has a profile too) and `n` members with profiles. */
async function setup(n: number, names: Array<string | null> = []) {
  const org = await t.createUser();
  const orgToken = await t.mint({ sub: org.id, tid: org.tenantId, roles: ['organizer'] });
  const members = [];
  for (let i = 0; i < n; i++) members.push(await t.createUser({ tenantId: org.tenantId, displayName: names[i] ?? null }));
  return { tid: org.tenantId, org, orgToken, members };
}

async function createEvent(orgToken: string, over: Record<string, unknown> = {}) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/events',
    headers: bearer(orgToken),
    payload: { title: 'Lecture', startsAt: START.toISOString(), endsAt: END.toISOString(), lateAfterMinutes: 10, ...over },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as { id: string };
}

/** The member's current QR token, issued at the test clock's time. */
async function qrToken(memberToken: string): Promise<string> {
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr/token', headers: bearer(memberToken) });
  assert.equal(res.statusCode, 200);
  return res.json().token;
}

function scan(orgToken: string, eventId: string, token: string, kind: 'check-ins' | 'check-outs' = 'check-ins') {
  return t.app.inject({ method: 'POST', url: `/api/v1/events/${eventId}/${kind}`, headers: bearer(orgToken), payload: { qrToken: token } });
}

async function checkInAt(at: Date, s: Awaited<ReturnType<typeof setup>>, eventId: string, member: { token: string }) {
  t.clock.set(at);
  try {
    return await scan(s.orgToken, eventId, await qrToken(member.token));
  } finally {
    t.clock.set(null);
  }
}

describe('check-in window and status at the boundaries', () => {
  test('before the window (1 ms before startsAt − 30 min): 409 check_in_closed', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken);
    const res = await checkInAt(new Date(START.getTime() - 30 * MIN - 1), s, ev.id, s.members[0]!);
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'check_in_closed');
  });

  test('the window opens at exactly startsAt − 30 min: 201 present', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken);
    const res = await checkInAt(new Date(START.getTime() - 30 * MIN), s, ev.id, s.members[0]!);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().status, 'present');
    assert.equal(res.json().checkedInAt, new Date(START.getTime() - 30 * MIN).toISOString());
  });

  test('on time: 1 ms before startsAt + lateAfterMinutes is present', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken);
    const res = await checkInAt(new Date(START.getTime() + 10 * MIN - 1), s, ev.id, s.members[0]!);
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().status, 'present');
  });

  test('exactly at startsAt + lateAfterMinutes is late', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken);
    const res = await checkInAt(new Date(START.getTime() + 10 * MIN), s, ev.id, s.members[0]!);
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().status, 'late');
  });

  test('lateAfterMinutes 0: exactly at startsAt is late', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken, { lateAfterMinutes: 0 });
    const res = await checkInAt(START, s, ev.id, s.members[0]!);
    assert.equal(res.json().status, 'late');
  });

  test('1 ms before endsAt still checks in (late); at endsAt it is closed', async () => {
    const s = await setup(2);
    const ev = await createEvent(s.orgToken);
    const last = await checkInAt(new Date(END.getTime() - 1), s, ev.id, s.members[0]!);
    assert.equal(last.statusCode, 201);
    assert.equal(last.json().status, 'late');
    const closed = await checkInAt(END, s, ev.id, s.members[1]!);
    assert.equal(closed.statusCode, 409);
    assert.equal(closed.json().code, 'check_in_closed');
  });
});

describe('check-in', () => {
  test('a repeated scan returns the same record with 200', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    const token = await qrToken(s.members[0]!.token);
    const first = await scan(s.orgToken, ev.id, token);
    assert.equal(first.statusCode, 201);
    const again = await scan(s.orgToken, ev.id, await qrToken(s.members[0]!.token));
    assert.equal(again.statusCode, 200);
    assert.deepEqual(again.json(), first.json());
  });

  test('20 simultaneous scans of one member: exactly one record (one 201, nineteen 200, one event)', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    const token = await qrToken(s.members[0]!.token);
    const results = await Promise.all(Array.from({ length: 20 }, () => scan(s.orgToken, ev.id, token)));
    const codes = results.map((r) => r.statusCode).sort();
    assert.deepEqual(codes, [...Array(19).fill(200), 201].sort());
    const bodies = new Set(results.map((r) => r.body));
    assert.equal(bodies.size, 1, 'every answer is the same record');
    const list = await t.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}/attendance`, headers: bearer(s.orgToken) });
    assert.equal(list.json().items.length, 1);
    await eventually(() => assert.equal(published.filter((e) => e.type === 'attendance.events.checked_in' && e.subject === s.members[0]!.id).length, 1));
  });

  test('expired, forged, other-tenant and malformed QR tokens: 400 invalid_qr_token', async () => {
    const s = await setup(1);
    const other = await t.createUser();
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });

    t.clock.set(new Date(Date.now() - 61_000));
    const expired = await qrToken(s.members[0]!.token);
    t.clock.set(null);

    const good = await qrToken(s.members[0]!.token);
    const [v, payload, mac] = good.split('.') as [string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    bytes[0] = bytes[0]! ^ 0xff; // another user id, same MAC
    const forged = `${v}.${bytes.toString('base64url')}.${mac}`;
    const otherTenant = await qrToken(other.token);

    for (const [name, token] of [
      ['expired', expired],
      ['forged', forged],
      ['other tenant', otherTenant],
      ['malformed', 'hello'],
      ['replayed after expiry', expired],
    ] as const) {
      const res = await scan(s.orgToken, ev.id, token);
      assert.equal(res.statusCode, 400, name);
      assert.equal(res.json().code, 'invalid_qr_token', name);
    }
    const empty = await scan(s.orgToken, ev.id, '');
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().code, 'validation_failed');
  });

  test('a member with no profile here: 404 user_not_found; an unknown event: 404 event_not_found', async () => {
    const s = await setup(0);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    const ghost = await t.mint({ sub: randomUUID(), tid: s.tid });
    const res = await scan(s.orgToken, ev.id, await qrToken(ghost));
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'user_not_found');
    const noEvent = await scan(s.orgToken, randomUUID(), await qrToken(s.org.token));
    assert.equal(noEvent.statusCode, 404);
    assert.equal(noEvent.json().code, 'event_not_found');
  });

  test('members cannot scan (403); an organizer of another tenant gets invalid_qr_token (the token is not for their tenant)', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    const token = await qrToken(s.members[0]!.token);
    const asMember = await scan(s.members[0]!.token, ev.id, token);
    assert.equal(asMember.statusCode, 403);
    const foreignOrg = await t.mint({ sub: randomUUID(), tid: randomUUID(), roles: ['organizer'] });
    const foreign = await scan(foreignOrg, ev.id, token);
    assert.equal(foreign.statusCode, 400, 'the token is for another tenant than the scanner');
  });
});

describe('check-out', () => {
  test('without a check-in: 409 not_checked_in; after: 200 with checkedOutAt; repeated: the same record', async () => {
    const s = await setup(1);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    const m = s.members[0]!;
    const early = await scan(s.orgToken, ev.id, await qrToken(m.token), 'check-outs');
    assert.equal(early.statusCode, 409);
    assert.equal(early.json().code, 'not_checked_in');
    await scan(s.orgToken, ev.id, await qrToken(m.token));
    const out = await scan(s.orgToken, ev.id, await qrToken(m.token), 'check-outs');
    assert.equal(out.statusCode, 200);
    assert.ok(out.json().checkedOutAt);
    const again = await scan(s.orgToken, ev.id, await qrToken(m.token), 'check-outs');
    assert.deepEqual(again.json(), out.json());
    await eventually(() => assert.equal(published.filter((e) => e.type === 'attendance.events.checked_out' && e.subject === m.id).length, 1));
    const evt = published.find((e) => e.type === 'attendance.events.checked_out' && e.subject === m.id)!;
    assert.equal(evt.tenantid, s.tid);
    assert.deepEqual(Object.keys(evt.data as object).sort(), ['actorId', 'checkedInAt', 'checkedOutAt', 'eventId', 'status', 'userId']);
  });
});

describe('attendance lists', () => {
  const tricky = ['Doe, John', 'Say "hi"', '=HYPERLINK("http://evil.example","x")', '+1 555', '-2+3', '@SUM(A1)', 'Zoë Ünicode'];

  test('JSON and CSV (Accept: text/csv and .csv); CSV escapes commas and quotes and defuses formulas', async () => {
    const s = await setup(tricky.length, tricky);
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    for (const m of s.members) assert.equal((await scan(s.orgToken, ev.id, await qrToken(m.token))).statusCode, 201);

    const json = await t.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}/attendance`, headers: bearer(s.orgToken) });
    assert.equal(json.statusCode, 200);
    assert.deepEqual(json.json().items.map((a: { displayName: string }) => a.displayName).sort(), [...tricky].sort());

    const viaAccept = await t.app.inject({
      method: 'GET',
      url: `/api/v1/events/${ev.id}/attendance`,
      headers: { ...bearer(s.orgToken), accept: 'text/csv' },
    });
    const viaPath = await t.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}/attendance.csv`, headers: bearer(s.orgToken) });
    for (const res of [viaAccept, viaPath]) {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/csv; charset=utf-8/);
      assert.match(String(res.headers['content-disposition']), /^attachment; filename="attendance-[0-9a-f-]{36}\.csv"$/);
    }
    assert.equal(viaAccept.body, viaPath.body);
    const csv = viaAccept.body;
    assert.ok(csv.startsWith('\uFEFFuserId,username,displayName,status,checkedInAt,checkedOutAt\r\n'));
    const lines = csv.slice(1).trimEnd().split('\r\n');
    assert.equal(lines.length, 1 + tricky.length);
    const expected = new Map([
      ['Doe, John', '"Doe, John"'],
      ['Say "hi"', '"Say ""hi"""'],
      ['=HYPERLINK("http://evil.example","x")', `"'=HYPERLINK(""http://evil.example"",""x"")"`],
      ['+1 555', "'+1 555"],
      ['-2+3', "'-2+3"],
      ['@SUM(A1)', "'@SUM(A1)"],
      ['Zoë Ünicode', 'Zoë Ünicode'],
    ]);
    for (const [, cell] of expected) assert.ok(lines.some((l) => l.includes(`,${cell},present,`)), `${cell} in\n${csv}`);
    for (const l of lines.slice(1)) assert.doesNotMatch(l, /,[=+\-@]/, 'no cell starts with a formula character');
  });

  test('csvCell: the escaping rules one by one', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('a"b'), '"a""b"');
    assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('\t=1'), "'\t=1");
    assert.equal(csvCell('=a,b'), `"'=a,b"`);
    assert.equal(csvCell(null), '');
  });

  test('the event list needs an organizer; the member sees their own history, newest first, paginated', async () => {
    const s = await setup(1);
    const m = s.members[0]!;
    const denied = await t.app.inject({ method: 'GET', url: `/api/v1/events/${randomUUID()}/attendance`, headers: bearer(m.token) });
    assert.equal(denied.statusCode, 403);
    const ids: string[] = [];
    for (const title of ['First', 'Second', 'Third']) {
      const ev = await createEvent(s.orgToken, { title, startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
      ids.push(ev.id);
      assert.equal((await scan(s.orgToken, ev.id, await qrToken(m.token))).statusCode, 201);
    }
    const p1 = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/attendance?limit=2', headers: bearer(m.token) });
    assert.equal(p1.statusCode, 200);
    assert.deepEqual(p1.json().items.map((a: { eventTitle: string }) => a.eventTitle), ['Third', 'Second']);
    const p2 = await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/me/attendance?limit=2&cursor=${encodeURIComponent(p1.json().nextCursor)}`,
      headers: bearer(m.token),
    });
    assert.deepEqual(p2.json().items.map((a: { eventTitle: string }) => a.eventTitle), ['First']);
    assert.equal(p2.json().nextCursor, null);
    // the organizer's own history is empty: scanning others is not attending
    const orgOwn = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/attendance', headers: bearer(s.org.token) });
    assert.equal(orgOwn.json().items.length, 0);
  });

  test('deleting an event deletes its attendance', async () => {
    const s = await setup(1);
    const m = s.members[0]!;
    const ev = await createEvent(s.orgToken, { startsAt: new Date(Date.now() - MIN).toISOString(), endsAt: new Date(Date.now() + 60 * MIN).toISOString() });
    await scan(s.orgToken, ev.id, await qrToken(m.token));
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/events/${ev.id}`, headers: bearer(s.orgToken) })).statusCode, 204);
    const mine = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/attendance', headers: bearer(m.token) });
    assert.equal(mine.json().items.length, 0);
  });
});
