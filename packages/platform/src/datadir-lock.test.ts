/**
 * The embedded data directory's lock (datadir-lock.ts): who holds it is recorded (host, pid, a
 * random id, when, and on Linux the kernel boot, pid namespace and process start), a holder in
 * this pid namespace is judged by its pid, one elsewhere by its refreshes. With real processes:
 * a second process here is refused and takes over once the first is killed; and where
 * `unshare` can make pid namespaces, two processes that are both pid 1 on one directory (two
 * containers on one volume) do not take each other's lock for their own.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentHolder, DataDirInUseError, lockDataDir, type LockHolder } from './datadir-lock';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const linux = existsSync('/proc/self/ns/pid');

const readHolder = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as LockHolder;
const writeHolder = (file: string, holder: LockHolder) => writeFile(file, JSON.stringify(holder));
const ago = (ms: number) => new Date(Date.now() - ms);

/** Waits for a state (never for a time). */
async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`never: ${what}`);
}

describe('embedded data directory lock: hand-made lock files', async () => {
  const base = await mkdtemp(path.join(tmpdir(), 'gh-lock-'));
  after(() => rm(base, { recursive: true, force: true }));
  let n = 0;
  const fresh = () => path.join(base, `db${++n}`);

  test('the lock names its holder; the release deletes it only while it is still ours; the holder refreshes it', async () => {
    const dir = fresh();
    const release = await lockDataDir(dir, { heartbeatMs: 20 });
    const held = await readHolder(`${dir}.lock`);
    assert.equal(held.pid, process.pid);
    assert.ok(held.host && held.instance && !Number.isNaN(Date.parse(held.startedAt)), JSON.stringify(held));
    if (linux) assert.ok(held.kernelBoot && held.pidNamespace && held.pidStart, `Linux identity recorded: ${JSON.stringify(held)}`);
    // the refresh: the modification time moves forward again after being set back
    await utimes(`${dir}.lock`, ago(60_000), ago(60_000));
    await until(async () => Date.now() - (await stat(`${dir}.lock`)).mtimeMs < 30_000, 'the holder refreshes its lock');
    // taken over by another (an operator deleted ours, another process took it): not ours to delete
    const other = { ...held, instance: 'someone-else' };
    await writeHolder(`${dir}.lock`, other);
    await release();
    assert.deepEqual(await readHolder(`${dir}.lock`), other);
  });

  test('a live process of this pid namespace is refused in one line naming it and the override', async () => {
    const dir = fresh();
    // our parent runs, and is not us (no recorded start time: the pid alone decides)
    await writeHolder(`${dir}.lock`, { ...currentHolder(), pid: process.ppid, pidStart: undefined, instance: 'parent' });
    await assert.rejects(lockDataDir(dir), (err: Error) => {
      assert.ok(err instanceof DataDirInUseError);
      assert.match(err.message, new RegExp(`in use by process ${process.ppid} on `));
      assert.ok(err.message.includes(`delete ${dir}.lock`), err.message);
      assert.ok(err.message.includes('DATABASE_URL'));
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.equal((await readHolder(`${dir}.lock`)).instance, 'parent', 'the lock is left alone');
  });

  test('taken over at once in this pid namespace: a pid that no longer runs, our own pid (a restarted container), a reused pid', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const locks: Array<[string, Partial<LockHolder>]> = [
      ['a dead pid', { pid: gone }],
      ['our own pid, another process', { pid: process.pid, instance: 'an-earlier-process' }],
    ];
    if (linux) locks.push(['a live pid that started at another time', { pid: process.ppid, pidStart: '1' }]);
    for (const [what, change] of locks) {
      const dir = fresh();
      await writeHolder(`${dir}.lock`, { ...currentHolder(), instance: 'old', ...change });
      // default staleMs (60 s): only the pid check can take it over this soon
      const release = await lockDataDir(dir);
      assert.equal((await readHolder(`${dir}.lock`)).pid, process.pid, what);
      await release();
      assert.equal(existsSync(`${dir}.lock`), false, what);
    }
  });

  test('a lock of another pid namespace: refused while it is refreshed, taken over once it is not', async () => {
    // the same pid as ours, as two containers on one volume both have pid 1
    const foreign = { ...currentHolder(), instance: 'other-container', host: 'other-host', pidNamespace: 'pid:[1]', kernelBoot: 'another-boot' };
    const live = fresh();
    await writeHolder(`${live}.lock`, foreign);
    await utimes(`${live}.lock`, ago(10_000), ago(10_000));
    // its holder's refresh, as long as we wait
    let t = Date.now() - 5_000;
    const heartbeat = setInterval(() => void utimes(`${live}.lock`, new Date(t), new Date((t += 10))).catch(() => {}), 20);
    try {
      await assert.rejects(lockDataDir(live, { pollMs: 10 }), (err: Error) => {
        assert.ok(err instanceof DataDirInUseError);
        assert.match(err.message, new RegExp(`in use by process ${process.pid} on other-host .*another container or on another host`));
        assert.ok(err.message.includes(`delete ${live}.lock`), err.message);
        return true;
      });
    } finally {
      clearInterval(heartbeat);
    }
    // not refreshed for longer than staleMs: its holder is gone
    const stale = fresh();
    await writeHolder(`${stale}.lock`, foreign);
    await utimes(`${stale}.lock`, ago(120_000), ago(120_000));
    const release = await lockDataDir(stale);
    assert.notEqual((await readHolder(`${stale}.lock`)).instance, 'other-container', 'the lock is ours now');
    await release();
  });

  test('a lock of an earlier Gatehouse (a bare pid, no host): refused while that pid runs here, taken over when it does not', async () => {
    const dir = fresh();
    await writeFile(`${dir}.lock`, '1');
    await assert.rejects(lockDataDir(dir), (err: Error) => err instanceof DataDirInUseError && /locked by process 1 of an earlier Gatehouse/.test(err.message) && err.message.includes(`delete ${dir}.lock`));
    // a pid that ran and is gone: a child that has exited
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const crashed = fresh();
    await writeFile(`${crashed}.lock`, String(gone));
    const release = await lockDataDir(crashed);
    assert.equal((await readHolder(`${crashed}.lock`)).pid, process.pid, 'the lock is ours now');
    await release();
  });
});

/** A process taking the lock (argv: dir, then options as JSON); prints `locked <pid> <pid namespace>` or `refused: <message>`. */
const CHILD = `
import { readlinkSync } from 'node:fs';
import { lockDataDir } from ${JSON.stringify(path.join(here, 'datadir-lock.ts'))};
try {
  await lockDataDir(process.argv[2], JSON.parse(process.argv[3]));
  console.log('locked', process.pid, readlinkSync('/proc/self/ns/pid'));
  setInterval(() => {}, 1 << 30);
} catch (err) {
  console.log('refused:', err.message);
  process.exit(3);
}
`;

const canUnshare = linux && spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true'], { stdio: 'ignore' }).status === 0;

describe('embedded data directory lock: real processes', { skip: linux ? false : 'needs /proc (Linux)' }, async () => {
  const base = await mkdtemp(path.join(tmpdir(), 'gh-lock-procs-'));
  const script = path.join(base, 'child.mts');
  await writeFile(script, CHILD);
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(base, { recursive: true, force: true });
  });

  /** Starts a child (in new pid and mount namespaces when `namespaced`); resolves to its first line and a kill. */
  async function child(dir: string, opts: object, namespaced: boolean) {
    const args = [process.execPath, '--import', 'tsx', script, dir, JSON.stringify(opts)];
    const p = namespaced ? spawn('unshare', ['-p', '-f', '--mount-proc', '--kill-child', ...args], { cwd: root, detached: true }) : spawn(args[0]!, args.slice(1), { cwd: root, detached: true });
    children.push(p);
    let out = '';
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const line = await new Promise<string>((resolve) => {
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      p.on('exit', () => resolve(out.split('\n')[0] ?? ''));
    });
    const exited = new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : p.on('exit', () => resolve())));
    return {
      line,
      kill: async () => {
        process.kill(-p.pid!, 'SIGKILL');
        await exited;
      },
    };
  }

  test('a second process of this namespace is refused; the first killed (its lock left behind), the next takes over at once', { timeout: 60_000 }, async () => {
    const dir = path.join(base, 'here');
    const first = await child(dir, {}, false);
    assert.match(first.line, /^locked \d+ /);
    const pid = Number(first.line.split(' ')[1]);
    await assert.rejects(lockDataDir(dir), (err: Error) => err instanceof DataDirInUseError && err.message.includes(`in use by process ${pid} on `));
    await first.kill();
    assert.equal((await readHolder(`${dir}.lock`)).pid, pid, 'a killed process leaves its lock');
    const release = await lockDataDir(dir); // staleMs 60 s: the pid check decides
    assert.equal((await readHolder(`${dir}.lock`)).pid, process.pid);
    await release();
  });

  test('two processes that are both pid 1 in their own pid namespaces (two containers, one volume)', { skip: canUnshare ? false : 'unshare -p (new pid namespaces) is not permitted here', timeout: 120_000 }, async () => {
    const dir = path.join(base, 'volume');
    const opts = { heartbeatMs: 100, staleMs: 5_000, pollMs: 20 };
    const a = await child(dir, opts, true);
    assert.match(a.line, /^locked 1 pid:\[\d+\]$/, 'the first is pid 1 in its namespace');
    const b = await child(dir, opts, true);
    assert.match(b.line, /^refused: .*in use by process 1 on .*another container or on another host/, 'the second, pid 1 too, does not take the lock for its own');
    // the first crashes: its lock stays, no longer refreshed; the next container takes it once it is stale
    const aHolder = await readHolder(`${dir}.lock`);
    await a.kill();
    const c = await child(dir, opts, true);
    assert.match(c.line, /^locked 1 /);
    // a new holder (its own instance), not the dead one's lock; the kernel may give the new
    // namespace the freed one's number, so the namespace id alone cannot tell them apart
    assert.notEqual((await readHolder(`${dir}.lock`)).instance, aHolder.instance);
    await c.kill();
  });
});
