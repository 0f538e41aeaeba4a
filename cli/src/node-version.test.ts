/**
 * Regression (issue 9, defect 13): on the machine's Node 20, `npm ci` printed 40 EBADENGINE
 * warnings and `npm start` then ran on an unsupported Node. Now every `npm run` script and
 * `npm ci` refuse it clearly, while CI's own bootstrap (`npm install --prefix DIR node@24`,
 * run on that same Node 20 from the checkout) still works.
 *
 * Runs the machine's npm under the machine's Node (`/usr/bin/node`, found first on a PATH of
 * /usr/bin:/bin); skipped, with the reason, where that Node is missing or new enough.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MACHINE_NODE = '/usr/bin/node';

function machineNodeVersion(): string | undefined {
  if (!existsSync(MACHINE_NODE) || !existsSync('/usr/bin/npm')) return undefined;
  return execFileSync(MACHINE_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
}
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
const scripts = Object.keys(manifest.scripts);
/** "22.19" from ">=22.19": what the refusal must name */
const needed = manifest.engines.node.replace(/^>=\s*/, '');
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const version = machineNodeVersion();
const [major = 0, minor = 0] = (version ?? '').split('.').map(Number);
const [needMajor = 0, needMinor = 0] = needed.split('.').map(Number);
const skip =
  version === undefined
    ? 'no /usr/bin/node and /usr/bin/npm on this machine'
    : major > needMajor || (major === needMajor && minor >= needMinor)
      ? `the machine's Node ${version} is supported: nothing to refuse`
      : false;

/**
 * npm as the machine runs it: its own Node first on PATH, none of the test run's npm settings.
 * In its own process group, so whatever a script started is stopped with it if it overstays
 * (before the fix, `npm start` on Node 20 just ran).
 */
async function machineNpm(args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = { HOME: process.env.HOME ?? '/root', PATH: '/usr/bin:/bin' };
  if (existsSync('/etc/ssl/certs/ca-certificates.crt')) env.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/ca-certificates.crt';
  const child = spawn('/usr/bin/npm', args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 60_000);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(killer);
  return { status, stdout, stderr };
}

describe(`the machine's Node ${version ?? '(none)'} is refused clearly`, { skip }, () => {
  for (const script of scripts) {
    test(`npm run ${script}: one line saying what is needed and how to get it, exit 1, nothing started`, async () => {
      const r = await machineNpm(['run', '--silent', script], root);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`Node\\.js ${re(version!)} .*is too old: Gatehouse needs Node\\.js ${re(needed)} or newer`));
      assert.match(lines[0]!, /npm install --prefix \S+ node@24/);
      assert.equal(r.stdout.trim(), '', 'nothing ran after the refusal');
    });
  }

  test('npm ci refuses (engine-strict in .npmrc) before installing anything', async () => {
    // a copy of the manifest, lock and .npmrc: npm ci must not touch this checkout's node_modules
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-engines-'));
    try {
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) await copyFile(path.join(root, f), path.join(dir, f));
      const r = await machineNpm(['ci', '--no-audit', '--no-fund'], dir);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /EBADENGINE/);
      assert.match(r.stderr, /Not compatible with your version of node\/npm: gatehouse@/);
      assert.match(r.stderr, new RegExp(`Required: \\{"node":"${re(manifest.engines.node)}"\\}`));
      assert.equal(existsSync(path.join(dir, 'node_modules')), false, 'nothing was installed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("CI's bootstrap `npm install --prefix DIR --no-save --no-package-lock node@24` still resolves from the checkout (engine-strict on)", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-node24-'));
    try {
      // .ci/run's exact command, from the checkout (so the repo's .npmrc is the project config),
      // with engine-strict forced on as well, as a dry run: resolving node@24 and checking its
      // engines is what engine-strict could break; the download itself is not this test's business.
      const r = await machineNpm(['install', '--prefix', dir, '--no-save', '--no-package-lock', '--engine-strict', '--dry-run', 'node@24'], root);
      if (r.status !== 0 && /ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|network/i.test(r.stderr)) {
        t.skip(`the npm registry is not reachable from here: ${r.stderr.split('\n')[0]}`);
        return;
      }
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /EBADENGINE/);
      assert.match(r.stdout, /add node 24\./);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
