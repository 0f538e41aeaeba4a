/**
 * Creating a new embedded data directory (PostgreSQL's initdb) for pglite.ts, off the main
 * thread, and from a template after the first time.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/**
 * Where a freshly made data directory is kept as a template: node_modules/.cache/gatehouse
 * of the installation PGlite is loaded from (written by whoever installed it, unlike a shared
 * temp directory, where another user could plant a database), one per PGlite version and
 * start parameters. Undefined when PGlite cannot be located.
 */
async function templateDir(pgliteUrl: string, startParams: readonly string[]): Promise<string | undefined> {
  const file = fileURLToPath(pgliteUrl);
  const at = file.lastIndexOf(`${path.sep}node_modules${path.sep}`);
  if (at < 0) return undefined;
  const nodeModules = file.slice(0, at + '/node_modules'.length);
  const pkg = JSON.parse(await readFile(path.join(nodeModules, '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version?: string };
  const params = createHash('sha256').update(JSON.stringify(startParams)).digest('hex').slice(0, 12);
  return path.join(nodeModules, '.cache', 'gatehouse', `pglite-${pkg.version ?? 'unknown'}-${params}`);
}

/**
 * Creates a new data directory at `dir` unless one is there. Built in a sibling directory and
 * renamed into place, so an interrupted first start never leaves a half-made database.
 *
 * - From the template (a copy of an earlier initdb's result, ~40 MB, a fraction of a second)
 *   when there is one: PostgreSQL data directories are relocatable, and a new cluster differs
 *   from the template only in its system identifier, which only replication looks at.
 * - Else initdb runs in a short-lived child process: in this process it would run on the main
 *   thread, one core, while the services' code loads, and leave a second PGlite and the initdb
 *   module behind (hundreds of MB of WebAssembly memory that is never given back); in a child
 *   it runs on the other core and its memory goes when it exits. Its result is then kept as
 *   the template (best effort: a read-only installation just has none).
 *
 * Where neither works, PGlite makes the directory in this process when it opens it.
 */
export async function initDataDir(dir: string, startParams: readonly string[], logger: Logger): Promise<void> {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return;
  if (existsSync(dir) && (await readdir(dir)).length > 0) return; // not ours to replace: PGlite reports what it finds
  const tmp = `${dir}.init-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  let url: string;
  try {
    url = import.meta.resolve('@electric-sql/pglite');
  } catch {
    return;
  }
  const template = await templateDir(url, startParams).catch(() => undefined);
  const t0 = performance.now();
  try {
    let from: 'template' | 'initdb' = 'initdb';
    if (template && existsSync(path.join(template, 'PG_VERSION'))) {
      await cp(template, tmp, { recursive: true });
      from = 'template';
    } else {
      await runInitdb(url, tmp, startParams);
      if (template) await keepTemplate(tmp, template, logger);
    }
    await rm(dir, { recursive: true, force: true }); // an empty directory, if any
    await rename(tmp, dir);
    logger.info({ dir, from, ms: Math.round(performance.now() - t0) }, 'embedded database created');
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    logger.warn({ err, dir }, 'embedded database could not be created in a child process; creating it in this one');
  }
}

/** PostgreSQL's initdb for `dir`, in a child process (PGlite creates and closes the database). */
async function runInitdb(pgliteUrl: string, dir: string, startParams: readonly string[]): Promise<void> {
  const script = `const { PGlite } = await import(${JSON.stringify(pgliteUrl)});
const pg = new PGlite({ dataDir: ${JSON.stringify(dir)}, startParams: ${JSON.stringify(startParams)} });
await pg.waitReady;
await pg.close();
process.exit(0);`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`initdb of ${dir} exited ${code}: ${stderr.slice(-500)}`))));
  });
}

/** Copies a freshly made data directory to `template` (whole or not at all: copied aside, renamed). */
async function keepTemplate(made: string, template: string, logger: Logger): Promise<void> {
  const tmp = `${template}.tmp-${process.pid}`;
  try {
    await rm(tmp, { recursive: true, force: true });
    await cp(made, tmp, { recursive: true });
    await rename(tmp, template);
  } catch (err) {
    // another process kept one first (the rename finds a directory), or the installation is read-only
    logger.debug({ err, template }, 'embedded database template not kept');
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}
