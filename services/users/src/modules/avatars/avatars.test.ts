import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { bearer, eventually, startTestUsers, userEvent, type TestUsers } from '../../testing';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { JPEG_16, WEBP_16, exifHasGps, jpegWithGps, multipart, pngDeclaring, pngImage } from './avatars.fixtures';

let t: TestUsers;
before(async () => {
  t = await startTestUsers();
});
after(async () => {
  await t.close();
});

const MiB = 1024 * 1024;

function upload(token: string, body: { payload: Buffer; headers: Record<string, string> }) {
  return t.app.inject({ method: 'PUT', url: '/api/v1/users/me/avatar', headers: { ...bearer(token), ...body.headers }, payload: body.payload });
}

/** Where the file storage keeps the object behind an avatar URL of `userId`. */
function objectFile(userId: string, avatarUrl: string): string {
  const objectId = avatarUrl.split('/').pop()!;
  const [tenant, random, ext] = objectId.split('.') as [string, string, string];
  return path.join(t.config.dataDir, 'objects', 'avatars', tenant, userId, `${random}.${ext}`);
}

const exists = (file: string) => stat(file).then(() => true, () => false);

describe('PUT /api/v1/users/me/avatar', () => {
  test('a real PNG is stored re-encoded and served with the same pixels, with safe headers', async () => {
    const u = await t.createUser();
    const png = pngImage(48, 40);
    const res = await upload(u.token, multipart([{ name: 'file', filename: 'me.png', type: 'image/png', data: png }]));
    assert.equal(res.statusCode, 200, res.body);
    const { avatarUrl } = res.json();
    assert.match(avatarUrl, /^\/api\/v1\/users\/avatars\/[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}\.png$/);
    assert.ok(avatarUrl.includes(u.tenantId), 'the object id names the tenant it is looked up in');
    assert.ok(!avatarUrl.includes('me.png'), 'the client file name is never used');

    const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) });
    assert.equal(me.json().avatarUrl, avatarUrl);

    // served without a token: <img> cannot send one
    const img = await t.app.inject({ method: 'GET', url: avatarUrl });
    assert.equal(img.statusCode, 200);
    // re-encoded (lossless for PNG): other bytes, the same pixels
    const served = PNG.sync.read(img.rawPayload);
    const sent = PNG.sync.read(png);
    assert.deepEqual([served.width, served.height], [48, 40]);
    assert.ok(served.data.equals(sent.data), 'the same pixels');
    assert.equal(img.headers['content-type'], 'image/png');
    assert.equal(img.headers['x-content-type-options'], 'nosniff');
    assert.equal(img.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(img.headers['content-disposition'], 'inline; filename="avatar.png"');
    assert.match(String(img.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(Number(img.headers['content-length']), img.rawPayload.length);

    // through the gateway: the tenant it resolved must be the avatar's
    const sameTenant = await t.app.inject({ method: 'GET', url: avatarUrl, headers: { [TENANT_HEADER]: u.tenantId } });
    assert.equal(sameTenant.statusCode, 200);
    const otherTenant = await t.app.inject({ method: 'GET', url: avatarUrl, headers: { [TENANT_HEADER]: '00000000-0000-4000-8000-000000000001' } });
    assert.equal(otherTenant.statusCode, 404, 'another tenant’s host does not serve it');

    const cached = await t.app.inject({ method: 'GET', url: avatarUrl, headers: { 'if-none-match': String(img.headers.etag) } });
    assert.equal(cached.statusCode, 304);
    assert.equal(cached.rawPayload.length, 0);
  });

  test('JPEG and WebP are accepted and served with their own types, whatever the declared type or name', async () => {
    const u = await t.createUser();
    for (const [data, type] of [
      [JPEG_16, 'image/jpeg'],
      [WEBP_16, 'image/webp'],
    ] as const) {
      const res = await upload(u.token, multipart([{ name: 'file', filename: 'x.gif', type: 'application/octet-stream', data }]));
      assert.equal(res.statusCode, 200, res.body);
      const img = await t.app.inject({ method: 'GET', url: res.json().avatarUrl });
      assert.equal(img.headers['content-type'], type);
      const meta = await sharp(img.rawPayload).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], [type === 'image/jpeg' ? 'jpeg' : 'webp', 16, 16], 'it decodes, same size');
    }
  });

  test('regression (issue 9, defect 11): a photo with EXIF GPS is served with no metadata at all, upright, still decodable', async () => {
    const u = await t.createUser();
    const photo = await jpegWithGps();
    const original = await sharp(photo).metadata();
    assert.ok(exifHasGps(original.exif), 'the upload carries a GPS position');
    assert.ok(photo.includes('serial-4711-secret'), 'and the camera serial');
    assert.equal(original.orientation, 6);

    const res = await upload(u.token, multipart([{ name: 'file', filename: 'IMG_0001.jpg', type: 'image/jpeg', data: photo }]));
    assert.equal(res.statusCode, 200, res.body);
    const img = await t.app.inject({ method: 'GET', url: res.json().avatarUrl });
    assert.equal(img.statusCode, 200);
    assert.equal(img.headers['content-type'], 'image/jpeg');
    const served = img.rawPayload;
    const meta = await sharp(served).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.exif, undefined, 'no EXIF block');
    assert.equal(meta.xmp, undefined, 'no XMP');
    assert.equal(meta.iptc, undefined, 'no IPTC');
    assert.equal(meta.orientation, undefined, 'no orientation tag: the rotation is in the pixels');
    assert.equal(served.includes('Exif\0\0'), false, 'no APP1 Exif segment anywhere in the bytes');
    assert.equal(served.includes('serial-4711-secret'), false);
    assert.equal(served.includes('GatehouseCam'), false);
    // it still decodes, and shows the way the phone meant it: 24 wide, 32 high
    const { info } = await sharp(served).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [24, 32]);
    // what is in storage is what is served: the uploaded bytes are nowhere
    const { readFile } = await import('node:fs/promises');
    assert.ok((await readFile(objectFile(u.id, res.json().avatarUrl))).equals(served));
  });

  test('replacing the avatar deletes the previous object; its URL stops working', async () => {
    const u = await t.createUser();
    const first = (await upload(u.token, multipart([{ name: 'file', filename: 'a.png', data: pngImage(8, 8) }]))).json().avatarUrl;
    assert.ok(await exists(objectFile(u.id, first)));
    const second = (await upload(u.token, multipart([{ name: 'file', filename: 'b.png', data: pngImage(9, 9) }]))).json().avatarUrl;
    assert.notEqual(first, second);
    assert.equal((await t.app.inject({ method: 'GET', url: first })).statusCode, 404);
    assert.equal(await exists(objectFile(u.id, first)), false);
    assert.equal((await t.app.inject({ method: 'GET', url: second })).statusCode, 200);
  });

  const rejected: Array<[string, () => { payload: Buffer; headers: Record<string, string> }, number, string]> = [
    ['an HTML file named .png', () => multipart([{ name: 'file', filename: 'x.png', type: 'image/png', data: '<!doctype html><script>alert(1)</script>' }]), 415, 'unsupported_media_type'],
    ['an SVG named .png', () => multipart([{ name: 'file', filename: 'x.png', type: 'image/png', data: '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>' }]), 415, 'unsupported_media_type'],
    ['a GIF', () => multipart([{ name: 'file', filename: 'x.gif', data: Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64') }]), 415, 'unsupported_media_type'],
    ['a PNG/HTML polyglot (HTML after IEND)', () => multipart([{ name: 'file', filename: 'x.png', data: Buffer.concat([pngImage(4, 4), Buffer.from('<html><script>alert(1)</script></html>')]) }]), 400, 'invalid_image'],
    ['a JPEG/ZIP polyglot (data after EOI)', () => multipart([{ name: 'file', filename: 'x.jpg', data: Buffer.concat([JPEG_16, Buffer.from('PK\u0003\u0004 zip payload')]) }]), 400, 'invalid_image'],
    ['a truncated PNG', () => multipart([{ name: 'file', filename: 'x.png', data: pngImage(32, 32).subarray(0, 60) }]), 400, 'invalid_image'],
    ['a PNG with a broken chunk checksum', () => {
      const png = Buffer.from(pngImage(4, 4));
      png[20] = png[20]! ^ 1; // inside IHDR
      return multipart([{ name: 'file', filename: 'x.png', data: png }]);
    }, 400, 'invalid_image'],
    ['a PNG declaring 5000×10', () => multipart([{ name: 'file', filename: 'x.png', data: pngDeclaring(5000, 10) }]), 400, 'image_dimensions_too_large'],
    ['a file of 2 MiB + 1 byte', () => multipart([{ name: 'file', filename: 'x.png', data: Buffer.concat([pngImage(4, 4), Buffer.alloc(2 * MiB)]) }]), 413, 'file_too_large'],
    ['a wrong field name', () => multipart([{ name: 'avatar', filename: 'x.png', data: pngImage(4, 4) }]), 400, 'validation_failed'],
    ['a text field before the file', () => multipart([{ name: 'note', data: 'hi' }, { name: 'file', filename: 'x.png', data: pngImage(4, 4) }]), 400, 'validation_failed'],
    ['two files', () => multipart([{ name: 'file', filename: 'a.png', data: pngImage(4, 4) }, { name: 'file', filename: 'b.png', data: pngImage(4, 4) }]), 400, 'validation_failed'],
    ['an empty form', () => multipart([]), 400, 'validation_failed'],
    ['an empty file', () => multipart([{ name: 'file', filename: 'x.png', data: Buffer.alloc(0) }]), 400, 'validation_failed'],
    ['a truncated upload (the body stops mid-file, no closing boundary)', () => {
      const full = multipart([{ name: 'file', filename: 'x.png', data: pngImage(64, 64) }]);
      return { ...full, payload: full.payload.subarray(0, Math.floor(full.payload.length / 2)) };
    }, 400, 'invalid_multipart'],
    ['multipart without a boundary', () => ({ payload: Buffer.from('whatever'), headers: { 'content-type': 'multipart/form-data' } }), 400, 'invalid_multipart'],
    ['a raw image body instead of a form', () => ({ payload: pngImage(4, 4), headers: { 'content-type': 'image/png' } }), 415, 'unsupported_media_type'],
    ['a JSON body instead of a form', () => ({ payload: Buffer.from('{"file":"x"}'), headers: { 'content-type': 'application/json' } }), 415, 'unsupported_media_type'],
  ];
  for (const [name, body, status, code] of rejected) {
    test(`rejects ${name}: ${status} ${code}, and keeps the current avatar`, async () => {
      const u = await t.createUser();
      const current = (await upload(u.token, multipart([{ name: 'file', filename: 'ok.png', data: pngImage(6, 6) }]))).json().avatarUrl;
      const res = await upload(u.token, body());
      assert.equal(res.statusCode, status, res.body);
      assert.equal(res.json().code, code);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) });
      assert.equal(me.json().avatarUrl, current);
    });
  }

  test('a file of exactly 2 MiB is within the limit (then judged by content)', async () => {
    const u = await t.createUser();
    const png = pngImage(4, 4);
    const data = Buffer.concat([png, Buffer.alloc(2 * MiB - png.length)]);
    const res = await upload(u.token, multipart([{ name: 'file', filename: 'x.png', data }]));
    assert.equal(res.statusCode, 400, 'not 413: the size is allowed');
    assert.equal(res.json().code, 'invalid_image', 'the padding after IEND is refused');
  });

  test('a user whose profile has not arrived yet: 404 profile_not_found, and nothing is left in storage', async () => {
    const token = await t.mint({ sub: '00000000-0000-4000-8000-00000000dead', tid: '00000000-0000-4000-8000-00000000beef' });
    const res = await upload(token, multipart([{ name: 'file', filename: 'x.png', data: pngImage(4, 4) }]));
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'profile_not_found');
    const dir = path.join(t.config.dataDir, 'objects', 'avatars', '00000000-0000-4000-8000-00000000beef');
    const left = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    assert.deepEqual(left.filter((e) => e.isFile()).map((e) => e.name), [], 'the upload was removed again');
  });
});

describe('DELETE /api/v1/users/me/avatar and user deletion', () => {
  test('DELETE removes the object and the URL; a second DELETE is still 204', async () => {
    const u = await t.createUser();
    const url = (await upload(u.token, multipart([{ name: 'file', filename: 'x.png', data: pngImage(5, 5) }]))).json().avatarUrl;
    const del = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me/avatar', headers: bearer(u.token) });
    assert.equal(del.statusCode, 204);
    assert.equal(await exists(objectFile(u.id, url)), false);
    assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) })).json().avatarUrl, null);
    assert.equal((await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me/avatar', headers: bearer(u.token) })).statusCode, 204);
  });

  test('user.events.deleted removes the profile and its avatar object', async () => {
    const u = await t.createUser();
    const url = (await upload(u.token, multipart([{ name: 'file', filename: 'x.png', data: pngImage(5, 5) }]))).json().avatarUrl;
    assert.ok(await exists(objectFile(u.id, url)));
    await t.transport.publish(userEvent('deleted', { id: u.id, tenantId: u.tenantId }));
    await eventually(async () => {
      const me = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(u.token) });
      assert.equal(me.statusCode, 404);
    });
    await eventually(async () => assert.equal(await exists(objectFile(u.id, url)), false));
    assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 404);
  });

  test('malformed or unknown avatar ids are a plain 404', async () => {
    for (const id of ['x', '..%2f..%2fsecret', `${'0'.repeat(36)}.${'a'.repeat(22)}.png`, `00000000-0000-4000-8000-000000000001.${'a'.repeat(22)}.png`]) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/users/avatars/${id}` });
      assert.equal(res.statusCode, 404, id);
    }
  });
});
