import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { deriveKey } from '@gatehouse/platform/crypto';
import { bearer, startTestUsers, type TestUsers } from '../../testing';
import { createQrTokens } from './qr.token';

describe('QR tokens (unit)', () => {
  const key = deriveKey('unit-test-secret-0123456789abcdefghij', 'qr-token');
  let now = new Date('2030-01-01T10:00:00Z');
  const tokens = createQrTokens({ key, ttlSec: 60, clock: () => now });
  const user = randomUUID();
  const tenant = randomUUID();

  test('a fresh token verifies for its tenant and names its user', () => {
    now = new Date('2030-01-01T10:00:00Z');
    const { token, expiresAt } = tokens.issue(user, tenant);
    assert.match(token, /^v1\.[A-Za-z0-9_-]{64}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt.toISOString(), '2030-01-01T10:01:00.000Z');
    const v = tokens.verify(token, tenant);
    assert.ok(v.ok);
    assert.equal(v.claims.userId, user);
    assert.equal(v.claims.tenantId, tenant);
  });

  test('tokens rotate: two issues differ (nonce), both valid', () => {
    const a = tokens.issue(user, tenant).token;
    const b = tokens.issue(user, tenant).token;
    assert.notEqual(a, b);
    assert.ok(tokens.verify(a, tenant).ok && tokens.verify(b, tenant).ok);
  });

  test('expiry boundary: valid one second before expiresAt, refused at expiresAt', () => {
    now = new Date('2030-01-01T10:00:00Z');
    const { token } = tokens.issue(user, tenant);
    now = new Date('2030-01-01T10:00:59.999Z');
    assert.ok(tokens.verify(token, tenant).ok);
    now = new Date('2030-01-01T10:01:00Z');
    assert.deepEqual(tokens.verify(token, tenant), { ok: false, reason: 'expired' });
    now = new Date('2030-01-01T10:00:00Z');
  });

  test('another tenant, a flipped payload bit, another key, a re-spelled MAC, junk: refused', () => {
    const { token } = tokens.issue(user, tenant);
    assert.deepEqual(tokens.verify(token, randomUUID()), { ok: false, reason: 'other_tenant' });

    const [v, payload, mac] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    bytes[20] = bytes[20]! ^ 1; // tenant id byte
    assert.deepEqual(tokens.verify(`${v}.${bytes.toString('base64url')}.${mac}`, tenant), { ok: false, reason: 'bad_signature' });

    const otherKey = createQrTokens({ key: deriveKey('another-secret-0123456789abcdefghijkl', 'qr-token'), ttlSec: 60, clock: () => now });
    assert.deepEqual(tokens.verify(otherKey.issue(user, tenant).token, tenant), { ok: false, reason: 'bad_signature' });

    // the last base64url character of a 32-byte MAC carries 2 unused bits: another spelling of the same bytes
    const last = mac[mac.length - 1]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = mac.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(mac, 'base64url'));
    assert.equal(tokens.verify(`${v}.${payload}.${respelled}`, tenant).ok, false);

    for (const junk of ['', 'v1', 'v1..', `v2.${payload}.${mac}`, `${token}x`, `${token}.x`, 'x'.repeat(500), token.toUpperCase()]) {
      assert.equal(tokens.verify(junk, tenant).ok, false, junk.slice(0, 30));
    }
  });
});

describe('GET /api/v1/users/me/qr', () => {
  let t: TestUsers;
  before(async () => {
    t = await startTestUsers();
  });
  after(async () => {
    await t.close();
  });

  test('round trip: the PNG decodes (jsqr on pngjs pixels) to a token that checks the member in', async () => {
    const member = await t.createUser({ username: 'scanme' });
    const organizer = await t.createUser({ tenantId: member.tenantId });
    const orgToken = await t.mint({ sub: organizer.id, tid: member.tenantId, roles: ['organizer'] });
    const now = Date.now();
    const ev = await t.app.inject({
      method: 'POST',
      url: '/api/v1/events',
      headers: bearer(orgToken),
      payload: { title: 'Standup', startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3600_000).toISOString() },
    });
    assert.equal(ev.statusCode, 201, ev.body);

    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr?format=png', headers: bearer(member.token) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const expiresAt = Date.parse(String(res.headers['x-qr-expires-at']));
    assert.ok(expiresAt > now + 50_000 && expiresAt <= now + 61_000, 'expires in about 60 s');

    const png = PNG.sync.read(res.rawPayload);
    const decoded = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
    assert.ok(decoded, 'the QR code decodes');
    assert.match(decoded.data, /^v1\./);

    const checkIn = await t.app.inject({
      method: 'POST',
      url: `/api/v1/events/${ev.json().id}/check-ins`,
      headers: bearer(orgToken),
      payload: { qrToken: decoded.data },
    });
    assert.equal(checkIn.statusCode, 201, checkIn.body);
    assert.equal(checkIn.json().userId, member.id);
    assert.equal(checkIn.json().status, 'present');
  });

  test('SVG by default, with a fresh token each time', async () => {
    const u = await t.createUser();
    const a = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr', headers: bearer(u.token) });
    const b = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr?format=svg', headers: bearer(u.token) });
    assert.equal(a.statusCode, 200);
    assert.match(String(a.headers['content-type']), /^image\/svg\+xml/);
    assert.match(a.body, /^<svg/);
    assert.notEqual(a.body, b.body, 'tokens rotate');
  });

  test('GET /qr/token gives a token and its expiry; a bad format or size is a 400', async () => {
    const u = await t.createUser();
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr/token', headers: bearer(u.token) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.json().token, /^v1\./);
    assert.ok(Date.parse(res.json().expiresAt) > Date.now());
    for (const q of ['format=gif', 'size=10', 'size=abc']) {
      const bad = await t.app.inject({ method: 'GET', url: `/api/v1/users/me/qr?${q}`, headers: bearer(u.token) });
      assert.equal(bad.statusCode, 400, q);
      assert.equal(bad.json().code, 'validation_failed');
    }
  });

  test('requires a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users/me/qr' });
    assert.equal(res.statusCode, 401);
  });
});
