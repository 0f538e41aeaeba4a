/**
 * The production build as the image runs it: `node scripts/build.mjs` (the bundling half of
 * `npm run build`), then `node cli/dist/main.js start` (SERVICE=all) on the embedded backends.
 * Regression: the CLI bundle looked for the services' migrations beside cli/dist, applied only
 * the platform prelude and failed with `relation "signing_keys" does not exist`.
 * Also: a DATA_DIR the process cannot write is one line on stderr and exit 1, no stack trace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { api, freePort, roundTrip, ROOT, startProc, waitUntil, type Proc } from './support';

/** Only what the process needs: no DATABASE_URL/REDIS_URL/NATS_URL, so everything is embedded. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...extra };
}

describe('production build: node cli/dist/main.js start (embedded)', () => {
  let dataDir: string;
  let proc: Proc;
  let base: string;

  before(async () => {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    dataDir = await mkdtemp(path.join(tmpdir(), 'gh-prod-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // run from another directory: the bundle must find its files from its own location
    proc = startProc(process.execPath, [path.join(ROOT, 'cli/dist/main.js'), 'start'], {
      cwd: tmpdir(),
      env: cleanEnv({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, PUBLIC_URL: base }),
    });
    await waitUntil('readiness of the bundled all-in-one process', async () => (await api(base, 'GET', '/readyz')).status === 200, 300_000, () => proc.output());
  });

  after(async () => {
    await proc?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('every service is migrated: register, login, profile and audit work', async () => {
    const { auditTypes } = await roundTrip(base);
    assert.ok(auditTypes.length >= 2, auditTypes.join(','));
    assert.doesNotMatch(proc.output(), /does not exist/);
  });

  test('SIGTERM stops it cleanly (exit 0)', async () => {
    const r = await proc.stop();
    assert.equal(r.code, 0, proc.output());
  });
});

describe('a DATA_DIR that cannot be written', () => {
  test('is one line on stderr and exit 1, for the all-in-one process and a single service', async () => {
    // root may write anywhere, so point DATA_DIR below a regular file: mkdir fails (ENOTDIR)
    // the same way a root-owned directory fails for a non-root user (EACCES).
    const notADir = path.join(ROOT, 'package.json', 'data');
    for (const args of [['cli/dist/main.js', 'start'], ['services/users/dist/main.js']]) {
      const p = startProc(process.execPath, [path.join(ROOT, args[0]!), ...args.slice(1)], {
        cwd: tmpdir(),
        env: cleanEnv({ PORT: String(await freePort()), HOST: '127.0.0.1', DATA_DIR: notADir, JWKS_URL: 'http://127.0.0.1:9/jwks' }),
      });
      const r = await p.exited;
      const out = p.output().trim();
      assert.equal(r.code, 1, out);
      assert.match(out, /DATA_DIR .*package\.json\/data is not writable by this process.*ENOTDIR/);
      assert.equal(out.split('\n').length, 1, `one line, no stack trace:\n${out}`);
    }
  });
});
