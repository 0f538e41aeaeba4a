/**
 * Making a new embedded data directory (pglite.init.ts): started synchronously, built beside
 * its place, put in place only while nothing else is there, and thrown away when the lock is
 * refused. Real files, a real template copy or initdb (whichever this installation has).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beginDataDir, copyTree, makeSpare } from './pglite.init';
import { START_PARAMS as PARAMS } from './pglite';
import { testLogger } from './testing';

describe('embedded data directory creation', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'gh-pglite-init-'));
  after(() => rm(work, { recursive: true, force: true }));
  const siblings = (dir: string) => readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`${path.basename(dir)}.init-`));

  test('copyTree copies nested directories and files, with their modes', async () => {
    const from = path.join(work, 'tree');
    await mkdir(path.join(from, 'base', '1'), { recursive: true });
    await mkdir(path.join(from, 'empty'));
    await writeFile(path.join(from, 'PG_VERSION'), '17\n');
    await writeFile(path.join(from, 'base', '1', '1259'), Buffer.alloc(64 * 1024, 7));
    await chmod(path.join(from, 'base'), 0o700);
    const to = path.join(work, 'tree-copy');
    await copyTree(from, to);
    assert.equal(await readFile(path.join(to, 'PG_VERSION'), 'utf8'), '17\n');
    assert.deepEqual(await readFile(path.join(to, 'base', '1', '1259')), Buffer.alloc(64 * 1024, 7));
    assert.ok(statSync(path.join(to, 'empty')).isDirectory());
    assert.equal(statSync(path.join(to, 'base')).mode & 0o777, 0o700);
  });

  test('nothing to do where a database, or anything else, already is', async () => {
    const made = path.join(work, 'made');
    await mkdir(made);
    await writeFile(path.join(made, 'PG_VERSION'), '17\n');
    assert.equal(beginDataDir(made, PARAMS, testLogger), undefined);
    const other = path.join(work, 'other');
    await mkdir(other);
    await writeFile(path.join(other, 'notes.txt'), 'not a database');
    assert.equal(beginDataDir(other, PARAMS, testLogger), undefined);
  });

  test('place() puts a whole database where there was none (the first one of an installation also keeps the template)', { timeout: 120_000 }, async () => {
    const dir = path.join(work, 'new', 'pglite');
    await mkdir(path.dirname(dir));
    const creation = beginDataDir(dir, PARAMS, testLogger);
    assert.ok(creation);
    assert.equal(existsSync(dir), false, 'nothing at the place itself before place()');
    await creation.place();
    assert.ok(existsSync(path.join(dir, 'PG_VERSION')));
    assert.ok(existsSync(path.join(dir, 'global', 'pg_control')));
    assert.deepEqual(siblings(dir), []);
  });

  test('a spare copy of the template is taken whole, in one rename, before the first await', { timeout: 120_000 }, async () => {
    const spare = await makeSpare(PARAMS, testLogger);
    assert.ok(spare, 'the template exists after the test above, so a spare can be made');
    assert.ok(existsSync(path.join(spare, 'PG_VERSION')));
    const dir = path.join(work, 'spare', 'pglite');
    await mkdir(path.dirname(dir));
    const creation = beginDataDir(dir, PARAMS, testLogger);
    assert.ok(creation);
    assert.equal(existsSync(spare), false, 'the spare was moved, not copied');
    assert.ok(existsSync(path.join(path.dirname(dir), siblings(dir)[0]!, 'PG_VERSION')), 'whole at once');
    await creation.place();
    assert.ok(existsSync(path.join(dir, 'global', 'pg_control')));
    // the next one is made again on request (place() schedules it a few seconds later)
    assert.equal(await makeSpare(PARAMS, testLogger), spare);
    assert.ok(existsSync(path.join(spare, 'PG_VERSION')));
  });

  test('place() keeps a database another process put there meanwhile, and discard() leaves nothing', { timeout: 120_000 }, async () => {
    const dir = path.join(work, 'raced', 'pglite');
    await mkdir(path.dirname(dir));
    const creation = beginDataDir(dir, PARAMS, testLogger);
    assert.ok(creation);
    // from the template (there is one now): the copy was under way before the first await
    assert.equal(siblings(dir).length, 1);
    assert.ok(readdirSync(path.join(path.dirname(dir), siblings(dir)[0]!)).length > 0);
    await mkdir(dir);
    await writeFile(path.join(dir, 'PG_VERSION'), 'theirs\n');
    await creation.place();
    assert.equal(await readFile(path.join(dir, 'PG_VERSION'), 'utf8'), 'theirs\n');
    assert.deepEqual(siblings(dir), []);

    const refused = path.join(work, 'refused', 'pglite');
    await mkdir(path.dirname(refused));
    const other = beginDataDir(refused, PARAMS, testLogger);
    assert.ok(other);
    await other.discard();
    assert.equal(existsSync(refused), false);
    assert.deepEqual(siblings(refused), []);
  });
});
