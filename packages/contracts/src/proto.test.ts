/**
 * The gRPC contracts (docs/grpc.md): `buf lint` passes, `buf breaking` against main passes
 * (scripts/proto-breaking.mjs, also run by .ci/run), and the committed generated code is what
 * `npm run proto:generate` makes from the committed .proto files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const here = path.resolve(import.meta.dirname, '..');
const root = path.resolve(here, '../..');
const buf = path.join(root, 'node_modules', '.bin', 'buf');

async function files(dir: string, base = dir): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of await files(p, base)) out.set(k, v);
    else out.set(path.relative(base, p), await readFile(p, 'utf8'));
  }
  return out;
}

test('buf lint passes on packages/contracts/proto', () => {
  const r = spawnSync(buf, ['lint'], { cwd: here, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('buf breaking against main passes', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/proto-breaking.mjs')], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('buf breaking catches a renamed field (the rule set is not a no-op)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-proto-'));
  try {
    await cp(path.join(here, 'proto'), dir, { recursive: true });
    const file = path.join(dir, 'gatehouse/auth/v1/auth.proto');
    await writeFile(file, (await readFile(file, 'utf8')).replace('string sid = 4;', 'string session_id = 4;'));
    const r = spawnSync(buf, ['breaking', dir, '--against', path.join(here, 'proto')], { cwd: here, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /changed name from "sid" to "session_id"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the committed generated code is up to date with the .proto files', async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'gh-proto-'));
  try {
    execFileSync(buf, ['generate', '--template', JSON.stringify({ version: 'v2', plugins: [{ local: path.join(root, 'node_modules/.bin/protoc-gen-es'), out, opt: ['target=ts', 'import_extension=none'] }] }), 'proto'], { cwd: here });
    const fresh = await files(out);
    const committed = await files(path.join(here, 'src/gen'));
    assert.deepEqual([...committed.keys()].sort(), [...fresh.keys()].sort());
    for (const [name, text] of fresh) assert.equal(committed.get(name), text, `${name} is stale: npm run proto:generate`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
