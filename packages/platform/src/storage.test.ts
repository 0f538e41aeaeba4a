import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { assertObjectKey, createStorage, type Storage } from './storage';

async function bytesOf(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** The same behaviour from both adapters. */
function contract(name: string, open: () => Storage) {
  describe(`${name} storage`, () => {
    test('put, get (bytes and content type), delete; delete of a missing object is fine', async () => {
      const s = open();
      await s.ping();
      const data = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
      await s.put('avatars/t1/u1/abc.png', data, 'image/png');
      const got = await s.get('avatars/t1/u1/abc.png');
      assert.ok(got);
      assert.equal(got.contentType, 'image/png');
      assert.equal(got.size, data.length);
      assert.deepEqual(await bytesOf(got.body), data);
      await s.put('avatars/t1/u1/abc.png', Buffer.from('v2'), 'image/webp');
      const again = await s.get('avatars/t1/u1/abc.png');
      assert.equal(again!.contentType, 'image/webp');
      assert.deepEqual(await bytesOf(again!.body), Buffer.from('v2'));
      await s.delete('avatars/t1/u1/abc.png');
      assert.equal(await s.get('avatars/t1/u1/abc.png'), null);
      await s.delete('avatars/t1/u1/abc.png');
      assert.equal(await s.get('avatars/never/was.png'), null);
    });

    test('keys that could escape or address something else are refused before any I/O', async () => {
      const s = open();
      for (const key of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', '.', '', 'a\\b', 'a/b\u0000', `${'x'.repeat(201)}`]) {
        await assert.rejects(s.put(key, Buffer.from('x'), 'text/plain'), /invalid object key/, key);
        await assert.rejects(s.get(key), /invalid object key/, key);
      }
    });
  });
}

let fileRoot: string;
let s3dir: string;
let server: S3rver;
let endpoint: string;
const opened: Storage[] = [];

before(async () => {
  fileRoot = await mkdtemp(path.join(os.tmpdir(), 'gh-storage-'));
  s3dir = await mkdtemp(path.join(os.tmpdir(), 'gh-storage-s3-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir });
  endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await c.send(new CreateBucketCommand({ Bucket: 'storage-test' }));
  c.destroy();
});
after(async () => {
  for (const s of opened) await s.close();
  await server.close();
  await rm(fileRoot, { recursive: true, force: true });
  await rm(s3dir, { recursive: true, force: true });
});

contract('file', () => {
  const s = createStorage({ dataDir: fileRoot });
  opened.push(s);
  return s;
});
contract('S3 (s3rver)', () => {
  const s = createStorage({ s3: { endpoint, bucket: 'storage-test', region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true } });
  opened.push(s);
  return s;
});

test('file storage writes atomically: no temp files are left behind', async () => {
  const s = createStorage({ dataDir: fileRoot });
  await Promise.all(Array.from({ length: 10 }, (_, i) => s.put('race/key.bin', Buffer.alloc(1000, i), 'application/octet-stream')));
  const entries = await readdir(path.join(fileRoot, 'race'));
  assert.deepEqual(entries, ['key.bin']);
  const got = await s.get('race/key.bin');
  const bytes = await bytesOf(got!.body);
  assert.equal(new Set(bytes).size, 1, 'one whole write won, no mix');
});

test('S3 ping fails for a missing bucket', async () => {
  const s = createStorage({ s3: { endpoint, bucket: 'no-such-bucket', region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true } });
  opened.push(s);
  await assert.rejects(s.ping());
});

test('assertObjectKey accepts the keys the services generate', () => {
  assertObjectKey('avatars/00000000-0000-4000-8000-000000000001/00000000-0000-4000-8000-000000000002/AbC_-123.png');
});
