import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, startTestUsers, type TestUsers } from '../../testing';

let t: TestUsers;
before(async () => {
  t = await startTestUsers();
});
after(async () => {
  await t.close();
});

/** A tenant with a member, two organizers and an admin (tokens only: events need no profiles). */
async function tenant() {
  const tid = randomUUID();
  const ids = { member: randomUUID(), org1: randomUUID(), org2: randomUUID(), admin: randomUUID() };
  return {
    tid,
    ids,
    member: await t.mint({ sub: ids.member, tid }),
    org1: await t.mint({ sub: ids.org1, tid, roles: ['user', 'organizer'] }),
    org2: await t.mint({ sub: ids.org2, tid, roles: ['organizer'] }),
    admin: await t.mint({ sub: ids.admin, tid, roles: ['admin'] }),
  };
}

function eventBody(over: Record<string, unknown> = {}) {
  return {
    title: 'Weekly class',
    description: 'Bring a laptop',
    location: 'Room 4',
    startsAt: '2031-03-01T09:00:00Z',
    endsAt: '2031-03-01T10:00:00Z',
    ...over,
  };
}

describe('events', () => {
  test('an organizer creates an event (201, default lateAfterMinutes 10); members read it', async () => {
    const tn = await tenant();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.org1), payload: eventBody() });
    assert.equal(res.statusCode, 201, res.body);
    const ev = res.json();
    assert.equal(ev.title, 'Weekly class');
    assert.equal(ev.lateAfterMinutes, 10);
    assert.equal(ev.startsAt, '2031-03-01T09:00:00.000Z');
    assert.equal(ev.createdBy, tn.ids.org1);
    const got = await t.app.inject({ method: 'GET', url: `/api/v1/events/${ev.id}`, headers: bearer(tn.member) });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.json(), ev);
  });

  test('a plain member cannot create, change or delete events (403 forbidden)', async () => {
    const tn = await tenant();
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.org1), payload: eventBody() });
    const id = created.json().id;
    const post = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.member), payload: eventBody() });
    assert.equal(post.statusCode, 403);
    assert.equal(post.json().code, 'forbidden');
    const patch = await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(tn.member), payload: { title: 'x' } });
    assert.equal(patch.statusCode, 403);
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/events/${id}`, headers: bearer(tn.member) });
    assert.equal(del.statusCode, 403);
  });

  test('only the creating organizer or an admin changes an event', async () => {
    const tn = await tenant();
    const id = (await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.org1), payload: eventBody() })).json().id;
    const other = await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(tn.org2), payload: { title: 'Hijacked' } });
    assert.equal(other.statusCode, 403);
    const own = await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(tn.org1), payload: { title: 'Renamed', lateAfterMinutes: 0 } });
    assert.equal(own.statusCode, 200);
    assert.equal(own.json().title, 'Renamed');
    assert.equal(own.json().lateAfterMinutes, 0);
    const admin = await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(tn.admin), payload: { location: null } });
    assert.equal(admin.statusCode, 200);
    assert.equal(admin.json().location, null);
    const otherDelete = await t.app.inject({ method: 'DELETE', url: `/api/v1/events/${id}`, headers: bearer(tn.org2) });
    assert.equal(otherDelete.statusCode, 403);
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/events/${id}`, headers: bearer(tn.admin) });
    assert.equal(del.statusCode, 204);
    const gone = await t.app.inject({ method: 'GET', url: `/api/v1/events/${id}`, headers: bearer(tn.member) });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().code, 'event_not_found');
  });

  test('endsAt must follow startsAt, on create and after a patch (400 validation_failed)', async () => {
    const tn = await tenant();
    const same = await t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: bearer(tn.org1),
      payload: eventBody({ endsAt: '2031-03-01T09:00:00Z' }),
    });
    assert.equal(same.statusCode, 400);
    assert.equal(same.json().errors[0].path, 'body.endsAt');
    const id = (await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.org1), payload: eventBody() })).json().id;
    const patch = await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(tn.org1), payload: { startsAt: '2031-03-01T11:00:00Z' } });
    assert.equal(patch.statusCode, 400);
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['no title', { title: undefined }],
    ['a blank title', { title: '   ' }],
    ['a 201-character title', { title: 't'.repeat(201) }],
    ['a date without a time zone', { startsAt: '2031-03-01T09:00:00' }],
    ['a date that does not exist', { startsAt: '2031-02-30T09:00:00Z' }],
    ['a leap second JavaScript cannot hold', { startsAt: '2031-03-01T08:59:60Z' }],
    ['a negative lateAfterMinutes', { lateAfterMinutes: -1 }],
    ['a fractional lateAfterMinutes', { lateAfterMinutes: 1.5 }],
  ];
  for (const [name, over] of invalid) {
    test(`400 for ${name}`, async () => {
      const tn = await tenant();
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(tn.org1), payload: eventBody(over) });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'validation_failed');
    });
  }

  test('list: by start time, paginated with an opaque cursor, filtered by from/to; a bad cursor is a 400', async () => {
    const tn = await tenant();
    for (const day of ['05', '03', '04', '01', '02']) {
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/events',
        headers: bearer(tn.org1),
        payload: eventBody({ title: `Day ${day}`, startsAt: `2031-04-${day}T09:00:00Z`, endsAt: `2031-04-${day}T10:00:00Z` }),
      });
    }
    const titles: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await t.app.inject({ method: 'GET', url: `/api/v1/events?${q}`, headers: bearer(tn.member) });
      assert.equal(page.statusCode, 200);
      titles.push(...page.json().items.map((e: { title: string }) => e.title));
      cursor = page.json().nextCursor;
    } while (cursor);
    assert.deepEqual(titles, ['Day 01', 'Day 02', 'Day 03', 'Day 04', 'Day 05']);

    const window = await t.app.inject({
      method: 'GET',
      url: '/api/v1/events?from=2031-04-02T10:30:00Z&to=2031-04-04T09:00:00Z',
      headers: bearer(tn.member),
    });
    assert.deepEqual(window.json().items.map((e: { title: string }) => e.title), ['Day 03']);

    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/events?cursor=nonsense', headers: bearer(tn.member) });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'validation_failed');
  });

  test('tenant isolation: another tenant neither sees, lists, changes nor deletes the event', async () => {
    const a = await tenant();
    const b = await tenant();
    const id = (await t.app.inject({ method: 'POST', url: '/api/v1/events', headers: bearer(a.org1), payload: eventBody() })).json().id;
    assert.equal((await t.app.inject({ method: 'GET', url: `/api/v1/events/${id}`, headers: bearer(b.admin) })).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/events', headers: bearer(b.admin) })).json().items.length, 0);
    assert.equal((await t.app.inject({ method: 'PATCH', url: `/api/v1/events/${id}`, headers: bearer(b.admin), payload: { title: 'x' } })).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/events/${id}`, headers: bearer(b.admin) })).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'GET', url: `/api/v1/events/${id}`, headers: bearer(a.member) })).statusCode, 200);
  });
});
