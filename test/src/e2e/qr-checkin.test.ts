/**
 * Issue 4, QR round trip through the gateway: a member's QR code as an image, decoded the way
 * a scanner app does (jsQR over PNG pixels), checked in by an organizer whose role was granted
 * by the superadmin, then visible in the attendance CSV, the member's own attendance and the
 * member's audit activity.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { metricValue } from '@gatehouse/platform/metrics';
import { call, eventually, login, register, type Account } from '../client';
import { describeBackends, measureAuditLatency, startTestSystem, type TestSystem } from '../system';

/** Decodes the QR code in a PNG: the text it encodes. */
function decodeQrPng(png: Buffer): string {
  const image = PNG.sync.read(png);
  const code = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height);
  if (!code) throw new Error('no QR code found in the image');
  return code.data;
}

describe('e2e: QR check-in through the gateway', () => {
  let system: TestSystem;
  let member: Account;
  let organizer: Account;

  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await system?.close();
  });

  test('member QR (PNG) → organizer check-in → attendance CSV, my attendance, my audit activity', async (t) => {
    t.diagnostic(`backends: ${describeBackends(system)}`);
    const url = system.url;
    member = await register(url);
    organizer = await register(url);

    // The superadmin grants `organizer`: the grant cuts the user's access tokens at once (a role
    // change takes effect within a second), and the next refresh carries the new role.
    const admin = await login(url, system.admin.email, system.admin.password);
    const grant = await call(url, 'PATCH', `/api/v1/admin/users/${organizer.id}`, { token: admin.accessToken, body: { roles: ['user', 'organizer'] } });
    assert.equal(grant.status, 200, grant.text);
    assert.ok(grant.body.roles.includes('organizer'));
    // the cut reaches every process through the revocation feed: within a second
    await eventually(async () => {
      const tooEarly = await call(url, 'POST', '/api/v1/events', {
        token: organizer.accessToken,
        body: { title: 'Before the grant', startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString() },
      });
      assert.equal(tooEarly.status, 401, 'the token from before the grant is cut');
      assert.equal(tooEarly.body.code, 'invalid_token');
    }, 1000);
    const refreshed = await call(url, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: organizer.refreshToken } });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.ok(refreshed.body.user.roles.includes('organizer'));
    const organizerToken = refreshed.body.accessToken as string;

    const created = await call(url, 'POST', '/api/v1/events', {
      token: organizerToken,
      body: {
        title: 'Weekly meetup',
        location: 'Room 1',
        startsAt: new Date(Date.now() + 5 * 60_000).toISOString(),
        endsAt: new Date(Date.now() + 2 * 3600_000).toISOString(),
      },
    });
    assert.equal(created.status, 201, created.text);
    const eventId = created.body.id as string;

    const qr = await fetch(`${url}/api/v1/users/me/qr?format=png`, { headers: { authorization: `Bearer ${member.accessToken}` } });
    assert.equal(qr.status, 200, await qr.clone().text());
    assert.match(qr.headers.get('content-type') ?? '', /^image\/png/);
    const qrToken = decodeQrPng(Buffer.from(await qr.arrayBuffer()));
    assert.ok(qrToken.length > 20, 'the QR encodes a token');

    const checkIns = async (result: string) => (await metricValue(system.shared.registry, 'gatehouse_attendance_scans_total', { action: 'check_in', result })) ?? 0;
    const [createdBefore, repeatedBefore] = [await checkIns('created'), await checkIns('repeated')];
    const first = await call(url, 'POST', `/api/v1/events/${eventId}/check-ins`, { token: organizerToken, body: { qrToken } });
    assert.equal(first.status, 201, first.text);
    assert.equal(await checkIns('created'), createdBefore + 1, 'the check-in metric counts it');
    assert.equal(first.body.userId, member.id);
    assert.equal(first.body.eventId, eventId);
    assert.equal(first.body.status, 'present', 'checked in before the start: present');
    const again = await call(url, 'POST', `/api/v1/events/${eventId}/check-ins`, { token: organizerToken, body: { qrToken } });
    assert.equal(again.status, 200, 'a repeated scan answers 200');
    assert.deepEqual(again.body, first.body, 'with the same record');
    assert.equal(await checkIns('repeated'), repeatedBefore + 1);

    // A member cannot scan: check-in is the organizer's.
    const byMember = await call(url, 'POST', `/api/v1/events/${eventId}/check-ins`, { token: member.accessToken, body: { qrToken } });
    assert.equal(byMember.status, 403);

    const csv = await call(url, 'GET', `/api/v1/events/${eventId}/attendance`, { token: organizerToken, headers: { accept: 'text/csv' } });
    assert.equal(csv.status, 200, csv.text);
    assert.match(String(csv.headers['content-type'] ?? ''), /^text\/csv/);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split(/\r\n/);
    assert.equal(lines.length, 2, `a header and one member:\n${csv.text}`);
    assert.ok(lines[1]!.includes(member.id), `the CSV row names the member:\n${csv.text}`);
    assert.ok(lines[1]!.includes('present'));

    const mine = await call(url, 'GET', '/api/v1/users/me/attendance', { token: member.accessToken });
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.body.items.length, 1);
    assert.equal(mine.body.items[0].eventId, eventId);
    assert.equal(mine.body.items[0].status, 'present');

    // The check-in travels users → outbox → transport → audit; the member sees it as theirs.
    const entry = await eventually(async () => {
      const r = await call(url, 'GET', '/api/v1/audit/me?type=attendance.events.checked_in', { token: member.accessToken });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.items.length, 1, 'one check-in entry, not one per scan');
      return r.body.items[0];
    }, 20_000);
    assert.equal(entry.subjectId, member.id);
    assert.equal(entry.actorId, organizer.id, 'the organizer did it');
    assert.equal(entry.data.eventId, eventId);
  });

  test('the audit latency helper (for benchmarks) sees each sign-up reach the audit trail', async (t) => {
    const figure = await measureAuditLatency(system, { samples: 3 });
    // Timing belongs to the benchmarks; here: three real observations, ordered statistics.
    assert.equal(figure.samples.length, 3);
    assert.ok(figure.samples.every((ms) => ms > 0));
    assert.ok(figure.p50 <= figure.p95 && figure.p95 <= figure.max);
    t.diagnostic(`event-to-visible p50 ${figure.p50.toFixed(1)} ms, max ${figure.max.toFixed(1)} ms (${describeBackends(system)})`);
  });
});
