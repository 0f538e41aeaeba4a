/**
 * Creating a new embedded data directory (PostgreSQL's initdb) for pglite.ts, off the main
 * thread, and from a template after the first time.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { copyFile, cp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

/**
 * Where a freshly made data directory is kept as a template: node_modules/.cache/gatehouse
 * of the installation PGlite is loaded from (written by whoever installed it, unlike a shared
 * temp directory, where another user could plant a database), one per PGlite version and
 * start parameters. Undefined when PGlite cannot be located.
 */
function templateDir(pgliteUrl: string, startParams: readonly string[]): string | undefined {
  const file = fileURLToPath(pgliteUrl);
  const at = file.lastIndexOf(`${path.sep}node_modules${path.sep}`);
  if (at < 0) return undefined;
  const nodeModules = file.slice(0, at + '/node_modules'.length);
  let pkg: { version?: string };
  try {
    pkg = JSON.parse(readFileSync(path.join(nodeModules, '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version?: string };
  } catch {
    return undefined;
  }
  const params = createHash('sha256').update(JSON.stringify(startParams)).digest('hex').slice(0, 12);
  return path.join(nodeModules, '.cache', 'gatehouse', `pglite-${pkg.version ?? 'unknown'}-${params}`);
}

/** A new data directory being made beside its place (see {@link beginDataDir}). */
export interface DataDirCreation {
  /** Waits for it, then renames it into place (unless a database appeared there meanwhile). Call holding the directory's lock. */
  place(): Promise<void>;
  /** Waits for it and deletes it (the lock was refused). */
  discard(): Promise<void>;
}

/**
 * Starts creating a new data directory for `dir` unless one is there: undefined when there is
 * nothing to do. It is built in a sibling directory of this process's own and renamed into
 * place by `place()`, so an interrupted first start never leaves a half-made database.
 *
 * - From the template (a copy of an earlier initdb's result, ~1,000 files, ~40 MB) when there
 *   is one: PostgreSQL data directories are relocatable, and a new cluster differs from the
 *   template only in its system identifier, which only replication looks at. When a spare copy
 *   of it is ready ({@link makeSpare}) that is taken whole, in one rename (on another file
 *   system than the installation's, or with no spare, the template is copied: ~1 s of a small
 *   VM's disk and ~0.6 s of CPU, during the start), and a new spare is made a few seconds
 *   after this one was put in place, once its start is over.
 * - Else initdb runs in a short-lived child process: in this process it would run on the main
 *   thread, one core, while the services' code loads, and leave a second PGlite and the initdb
 *   module behind (hundreds of MB of WebAssembly memory that is never given back); in a child
 *   it runs on the other core and its memory goes when it exits. Its result is then kept as
 *   the template (best effort: a read-only installation just has none).
 *
 * Everything up to starting that work is synchronous, so it is under way when this returns:
 * `gatehouse start` calls it before it loads the services' code, which holds the event loop
 * for the better part of a second; work that needed the event loop between its steps (the
 * directory lock, `fs.cp`) made no progress until that was done, and the copy (~1 s on a
 * small VM) ran after it instead of beside it. Nothing is written at `dir` itself before
 * `place()`, which the caller calls holding the directory's lock.
 *
 * Where neither works, PGlite makes the directory in this process when it opens it.
 */
export function beginDataDir(dir: string, startParams: readonly string[], logger: Logger): DataDirCreation | undefined {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return undefined;
  if (existsSync(dir) && readdirSync(dir).length > 0) return undefined; // not ours to replace: PGlite reports what it finds
  const tmp = `${dir}.init-${process.pid}`;
  let url: string;
  try {
    url = import.meta.resolve('@electric-sql/pglite');
  } catch {
    return undefined;
  }
  const t0 = performance.now();
  let made: Promise<'spare' | 'template' | 'initdb'>;
  let template: string | undefined;
  try {
    rmSync(tmp, { recursive: true, force: true });
    template = templateDir(url, startParams);
    if (template && existsSync(path.join(template, 'PG_VERSION'))) {
      made = takeSpare(template, tmp) ? Promise.resolve('spare' as const) : copyTree(template, tmp).then(() => 'template' as const);
    } else {
      made = runInitdb(url, tmp, startParams).then(async () => {
        if (template) await keepTemplate(tmp, template, logger);
        return 'initdb' as const;
      });
    }
  } catch (err) {
    made = Promise.reject(err as Error);
  }
  made.catch(() => {}); // awaited by place() or discard()
  const remove = () => rm(tmp, { recursive: true, force: true }).catch(() => {});
  return {
    async place() {
      let from: 'spare' | 'template' | 'initdb';
      try {
        from = await made;
      } catch (err) {
        await remove();
        logger.warn({ err, dir }, 'embedded database could not be created in a child process; creating it in this one');
        return;
      }
      try {
        // another process made it while this one waited for the lock
        if (existsSync(path.join(dir, 'PG_VERSION'))) return await remove();
        await rm(dir, { recursive: true, force: true }); // an empty directory, if any
        await rename(tmp, dir);
        logger.info({ dir, from, ms: Math.round(performance.now() - t0) }, 'embedded database created');
        // the next new directory's spare, once this one's start is over (unref'd: never holds the process)
        if (template) setTimeout(() => void makeSpare(startParams, logger), SPARE_DELAY_MS).unref();
      } catch (err) {
        await remove();
        logger.warn({ err, dir }, 'embedded database could not be created in a child process; creating it in this one');
      }
    },
    async discard() {
      await made.catch(() => {});
      await remove();
    },
  };
}

/** How long after a new data directory was put in place the next spare is made: after its start. */
const SPARE_DELAY_MS = 3000;

/** Where the spare copy of `template` is kept: beside it. */
const spareOf = (template: string) => `${template}-spare`;

/** Moves the spare copy of `template` to `to` (one rename); false when there is none or it cannot be moved. */
function takeSpare(template: string, to: string): boolean {
  try {
    renameSync(spareOf(template), to);
  } catch {
    return false; // none (or another process took it first), or another file system
  }
  if (existsSync(path.join(to, 'PG_VERSION'))) return true;
  rmSync(to, { recursive: true, force: true });
  return false;
}

/**
 * Makes the spare copy of this installation's template, unless there is one (or no template):
 * copied aside and renamed into place, so a spare is always whole. Best effort (debug log);
 * resolves to its path when there is one.
 */
export function makeSpare(startParams: readonly string[], logger: Logger): Promise<string | undefined> {
  // one at a time in a process: two would share the `.tmp-<pid>` directory
  return (making ??= makeSpareNow(startParams, logger).finally(() => (making = undefined)));
}

let making: Promise<string | undefined> | undefined;

async function makeSpareNow(startParams: readonly string[], logger: Logger): Promise<string | undefined> {
  let template: string | undefined;
  try {
    template = templateDir(import.meta.resolve('@electric-sql/pglite'), startParams);
  } catch {
    return undefined;
  }
  if (!template || !existsSync(path.join(template, 'PG_VERSION'))) return undefined;
  const spare = spareOf(template);
  if (existsSync(path.join(spare, 'PG_VERSION'))) return spare;
  const tmp = `${spare}.tmp-${process.pid}`;
  try {
    await rm(tmp, { recursive: true, force: true });
    await copyTree(template, tmp);
    await rename(tmp, spare);
    return spare;
  } catch (err) {
    // another process made one first (the rename finds a directory), or the installation is read-only
    logger.debug({ err, spare }, 'embedded database spare not made');
    return existsSync(path.join(spare, 'PG_VERSION')) ? spare : undefined;
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Copies the directory tree `from` to `to` (which must not exist), every file at once.
 * Hand-written rather than `fs.cp`, which copies one file after another and needs the event
 * loop between any two: here the directories are made and every file's copy handed to libuv's
 * thread pool before this returns, so the copy runs while the main thread is busy loading code.
 * A data directory holds only directories and regular files; anything else falls back to `fs.cp`.
 */
export function copyTree(from: string, to: string): Promise<void> {
  const entries = readdirSync(from, { recursive: true, withFileTypes: true });
  if (entries.some((e) => !e.isFile() && !e.isDirectory())) return cp(from, to, { recursive: true });
  const dirs = [from, ...entries.filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath, e.name))];
  // parents before children (readdir lists a directory before its contents, but say so)
  dirs.sort((a, b) => a.length - b.length);
  for (const d of dirs) mkdirSync(path.join(to, path.relative(from, d)), { mode: statSync(d).mode & 0o7777 });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  return Promise.all(files.map((f) => copyFile(f, path.join(to, path.relative(from, f))))).then(() => undefined);
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
