import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './config';
import { resolveSecret } from './secret';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gh-secret-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('GATEHOUSE_SECRET wins; a short one is refused', async () => {
  const secret = 'x'.repeat(40);
  assert.equal(await resolveSecret(loadConfig({ DATA_DIR: dir, GATEHOUSE_SECRET: secret })), secret);
  await assert.rejects(resolveSecret(loadConfig({ DATA_DIR: dir, GATEHOUSE_SECRET: 'short' })), /at least 32/);
});

test('embedded: created once (0600, 256 bits), then read back; concurrent first starts agree', async () => {
  const sub = path.join(dir, 'embedded');
  const config = loadConfig({ DATA_DIR: sub });
  const values = await Promise.all(Array.from({ length: 8 }, () => resolveSecret(config)));
  assert.equal(new Set(values).size, 1);
  assert.equal(Buffer.from(values[0]!, 'base64url').length, 32);
  const st = await stat(path.join(sub, 'secret'));
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal((await readFile(path.join(sub, 'secret'), 'utf8')).trim(), values[0]);
  assert.equal(await resolveSecret(config), values[0], 'stable across restarts');
});

test('with PostgreSQL configured and no secret: a clear error, no file written', async () => {
  const sub = path.join(dir, 'pg');
  await assert.rejects(resolveSecret(loadConfig({ DATA_DIR: sub, DATABASE_URL: 'postgres://x@127.0.0.1/db' })), /GATEHOUSE_SECRET is required/);
  await assert.rejects(resolveSecret(loadConfig({ DATA_DIR: sub, USERS_DATABASE_URL: 'postgres://x@127.0.0.1/db' })), /GATEHOUSE_SECRET is required/);
  await assert.rejects(stat(path.join(sub, 'secret')));
});

test('a damaged secret file is reported, not silently replaced', async () => {
  const sub = path.join(dir, 'damaged');
  const config = loadConfig({ DATA_DIR: sub });
  await resolveSecret(config);
  await writeFile(path.join(sub, 'secret'), 'tiny\n');
  await assert.rejects(resolveSecret(config), /no usable secret/);
});
