/**
 * Avatars on the S3 path, against a real S3-protocol server (s3rver) started here on a free
 * loopback port with a temporary directory: what production does with any S3-compatible store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { bearer, eventually, startTestUsers, userEvent, type TestUsers } from '../../testing';
import { PNG } from 'pngjs';
import { multipart, pngImage } from './avatars.fixtures';

const BUCKET = 'gatehouse-avatars';
let s3dir: string;
let server: S3rver | undefined;
let endpoint: string;
let client: S3Client;
let t: TestUsers;

async function startS3(port = 0) {
  server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: s3dir });
  const addr = await server.run();
  return addr.port;
}

before(async () => {
  s3dir = await mkdtemp(path.join(os.tmpdir(), 'gh-s3rver-'));
  const port = await startS3();
  endpoint = `http://127.0.0.1:${port}`;
  client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  t = await startTestUsers({
    env: {
      S3_ENDPOINT: endpoint,
      S3_BUCKET: BUCKET,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
    },
  });
});
after(async () => {
  await t?.close();
  client?.destroy();
  await server?.close();
  await rm(s3dir, { recursive: true, force: true });
});

async function keysOf(tenantId: string): Promise<string[]> {
  const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `avatars/${tenantId}/` }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

describe('avatars on S3', () => {
  test('upload puts the object under a server-generated key with its content type; it is served back', async () => {
    assert.equal(t.deps.storage.kind, 's3');
    const u = await t.createUser();
    const png = pngImage(20, 20);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/users/me/avatar',
      headers: { ...bearer(u.token), ...multipart([{ name: 'file', filename: '../../evil.png', data: png }]).headers },
      payload: multipart([{ name: 'file', filename: '../../evil.png', data: png }]).payload,
    });
    assert.equal(res.statusCode, 200, res.body);
    const keys = await keysOf(u.tenantId);
    assert.equal(keys.length, 1);
    assert.match(keys[0]!, new RegExp(`^avatars/${u.tenantId}/${u.id}/[A-Za-z0-9_-]{22}\\.png$`));
    const obj = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: keys[0]! }));
    assert.equal(obj.ContentType, 'image/png');
    const stored = Buffer.from(await obj.Body!.transformToByteArray());
    // stored re-encoded (no metadata): the same pixels as the upload
    assert.ok(PNG.sync.read(stored).data.equals(PNG.sync.read(png).data));

    const img = await t.app.inject({ method: 'GET', url: res.json().avatarUrl });
    assert.equal(img.statusCode, 200);
    assert.equal(img.headers['content-type'], 'image/png');
    assert.equal(img.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(img.rawPayload, stored);
  });

  test('replace and DELETE remove the objects from the bucket', async () => {
    const u = await t.createUser();
    const put = (w: number) =>
      t.app.inject({
        method: 'PUT',
        url: '/api/v1/users/me/avatar',
        headers: { ...bearer(u.token), ...multipart([{ name: 'file', filename: 'a.png', data: pngImage(w, w) }]).headers },
        payload: multipart([{ name: 'file', filename: 'a.png', data: pngImage(w, w) }]).payload,
      });
    await put(5);
    const first = await keysOf(u.tenantId);
    await put(6);
    const second = await keysOf(u.tenantId);
    assert.equal(second.length, 1);
    assert.notDeepEqual(second, first);
    const del = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me/avatar', headers: bearer(u.token) });
    assert.equal(del.statusCode, 204);
    assert.deepEqual(await keysOf(u.tenantId), []);
  });

  test('user.events.deleted removes the avatar object from the bucket', async () => {
    const u = await t.createUser();
    const body = multipart([{ name: 'file', filename: 'a.png', data: pngImage(7, 7) }]);
    await t.app.inject({ method: 'PUT', url: '/api/v1/users/me/avatar', headers: { ...bearer(u.token), ...body.headers }, payload: body.payload });
    assert.equal((await keysOf(u.tenantId)).length, 1);
    await t.transport.publish(userEvent('deleted', { id: u.id, tenantId: u.tenantId }));
    await eventually(async () => assert.deepEqual(await keysOf(u.tenantId), []));
  });

  test('S3 down: /readyz says so (503) and an upload is a 503 service_unavailable, not a 500; back up: works again', async () => {
    const u = await t.createUser();
    const port = Number(new URL(endpoint).port);
    await server!.close();
    server = undefined;
    try {
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.notEqual(ready.json().checks.storage, 'ok');
      const body = multipart([{ name: 'file', filename: 'a.png', data: pngImage(4, 4) }]);
      const res = await t.app.inject({ method: 'PUT', url: '/api/v1/users/me/avatar', headers: { ...bearer(u.token), ...body.headers }, payload: body.payload });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'service_unavailable');
    } finally {
      await startS3(port);
    }
    await eventually(async () => assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200));
    const body = multipart([{ name: 'file', filename: 'a.png', data: pngImage(4, 4) }]);
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/users/me/avatar', headers: { ...bearer(u.token), ...body.headers }, payload: body.payload });
    assert.equal(res.statusCode, 200);
  });
});
