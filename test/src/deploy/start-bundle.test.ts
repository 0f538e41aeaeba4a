/**
 * `npm start` (scripts/start.mjs) runs the production bundle and builds it only when it is
 * missing or older than one of its sources: a changed source is picked up by the next start,
 * and a start with nothing changed does not build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support';

/** `node scripts/start.mjs --help` (the CLI's start help, printed by the bundle): its stderr and stdout. */
function startHelp(): { stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/start.mjs'), '--help'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  assert.equal(r.status, 0, r.stderr);
  return { stderr: r.stderr, stdout: r.stdout };
}

test('npm start builds the bundle when a source is newer, and not when nothing changed', () => {
  // a known state: built now
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/start.mjs'), '--help'], { cwd: ROOT, stdio: 'pipe' });
  const fresh = startHelp();
  assert.equal(fresh.stderr, '', 'nothing changed: no build');
  assert.match(fresh.stdout, /Usage: gatehouse start/);

  // a source of the bundle changes after the bundle was built (both dated back, not into the future)
  const source = path.join(ROOT, 'packages/platform/src/warm.ts');
  const bundle = path.join(ROOT, 'cli/dist/main.js');
  const inputs = JSON.parse(readFileSync(path.join(ROOT, 'cli/dist/inputs.json'), 'utf8')) as string[];
  assert.ok(inputs.includes('packages/platform/src/warm.ts'), 'the bundle lists its sources');
  let rebuilt: { stderr: string; stdout: string };
  let edited: Date;
  for (let attempt = 1; ; attempt++) {
    const built = new Date(Date.now() - 10_000);
    edited = new Date(Date.now() - 5_000);
    utimesSync(bundle, built, built);
    utimesSync(source, edited, edited);
    rebuilt = startHelp();
    // Test files run three at once, and others build the same cli/dist (scripts/build.mjs in
    // the bundled-process tests): one that rebuilt it between the dating back and this start
    // left a bundle newer than the source, and this start rightly built nothing. Seen in CI
    // once; the bundle's date then is neither the one set here nor this start's. Tried again.
    if (rebuilt.stderr === '' && Math.abs(statSync(bundle).mtimeMs - built.getTime()) > 1 && attempt < 5) continue;
    break;
  }
  assert.match(rebuilt.stderr, /building the bundle \(packages\/platform\/src\/warm\.ts changed\)/);
  assert.match(rebuilt.stdout, /Usage: gatehouse start/);
  assert.ok(statSync(bundle).mtimeMs > edited.getTime(), 'the new bundle is newer than the source');
  assert.equal(startHelp().stderr, '', 'built once: the next start does not build again');
});
