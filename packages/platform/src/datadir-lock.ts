/**
 * The lock that keeps an embedded data directory to one process (`<dir>.lock`): a PGlite
 * directory opened by two processes at once is corrupted, and since every service of a process
 * shares one directory, two processes on one DATA_DIR (a second `gatehouse start`, services run
 * alone, a CLI command during a start, two containers on one volume) would be exactly that.
 *
 * A pid alone does not say who holds the lock: two containers on one volume are both pid 1, and
 * `kill(pid, 0)` answers about this pid namespace only. So the lock records who took it: the
 * host name, the pid, a random id of the taking process, when it was taken, and on Linux the
 * kernel's boot id, the pid namespace and the process's start time. The holder touches the
 * file's modification time every `heartbeatMs`.
 *
 * An existing lock is stale (taken over) when:
 * - its holder ran in this pid namespace (same kernel boot and pid namespace; without /proc:
 *   the same host name) and that process is gone: its pid does not run, or runs a process that
 *   started at another time (a reused pid), or is our own pid (an earlier process of a
 *   restarted container);
 * - its holder ran elsewhere (another container or host) and the lock was not refreshed for
 *   `staleMs`: watched until then, a live holder shows itself by its next refresh.
 * Otherwise it is refused in one line naming the holder and how to override (delete the file).
 * A lock of an earlier Gatehouse (a bare pid, no host) is judged as that version did: stale when
 * that pid does not run here (or is ours), else refused.
 *
 * Hand-written: proper-lockfile has the refresh and the staleness by modification time, but it
 * records no holder (the refusal could not name one) and has no same-namespace pid check, so a
 * crashed process's lock would always cost the whole stale period.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { open as openFile, readFile, stat, unlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** An embedded data directory held by another live process (or by one this process cannot see). */
export class DataDirInUseError extends Error {}

/** What a lock file holds. */
export interface LockHolder {
  host: string;
  pid: number;
  /** random, one per process: tells this process's lock from another's with the same pid */
  instance: string;
  /** when the lock was taken (ISO 8601) */
  startedAt: string;
  /** Linux: /proc/sys/kernel/random/boot_id */
  kernelBoot?: string;
  /** Linux: the pid namespace, as /proc/self/ns/pid names it (`pid:[4026531836]`) */
  pidNamespace?: string;
  /** Linux: the process's start time, in clock ticks after boot (/proc/<pid>/stat, field 22) */
  pidStart?: string;
}

export interface DataDirLockOptions {
  logger?: Logger;
  /** how often the holder refreshes the lock (default 10 s) */
  heartbeatMs?: number;
  /** a lock of another container or host not refreshed for this long is stale (default 60 s) */
  staleMs?: number;
  /** how often a foreign lock is looked at while waiting for its refresh (default 1 s) */
  pollMs?: number;
}

function readProc(read: () => string): string | undefined {
  try {
    return read().trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function processStart(pid: number): string | undefined {
  const stat = readProc(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** This process, as a lock names it. */
export function currentHolder(): LockHolder {
  const kernelBoot = readProc(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  const pidNamespace = readProc(() => readlinkSync('/proc/self/ns/pid'));
  const pidStart = processStart(process.pid);
  return {
    host: os.hostname(),
    pid: process.pid,
    instance: randomUUID(),
    startedAt: new Date().toISOString(),
    ...(kernelBoot && { kernelBoot }),
    ...(pidNamespace && { pidNamespace }),
    ...(pidStart && { pidStart }),
  };
}

function parseHolder(text: string): LockHolder | { legacyPid: number } | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { legacyPid: Number(trimmed) };
  try {
    const v = JSON.parse(trimmed) as Partial<LockHolder>;
    if (typeof v.host === 'string' && typeof v.pid === 'number' && typeof v.instance === 'string' && typeof v.startedAt === 'string') return v as LockHolder;
  } catch {
    // not JSON: a lock whose writer died before it wrote (judged by its age alone)
  }
  return undefined;
}

/** Whether `holder` ran in this process's pid namespace, where its pid means what it says here. */
function samePidNamespace(holder: LockHolder, me: LockHolder): boolean {
  if (holder.kernelBoot || holder.pidNamespace || me.kernelBoot || me.pidNamespace) {
    return Boolean(holder.kernelBoot && holder.pidNamespace && holder.kernelBoot === me.kernelBoot && holder.pidNamespace === me.pidNamespace);
  }
  return holder.host === me.host; // no /proc on either side (macOS, Windows): no containers sharing pids
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process that took the lock still runs (asked in its own pid namespace only). */
function holderRuns(holder: LockHolder, me: LockHolder): boolean {
  if (holder.instance === me.instance) return false;
  if (holder.pid === me.pid || !running(holder.pid)) return false;
  if (!holder.pidStart) return true;
  const start = processStart(holder.pid);
  return start === undefined || start === holder.pidStart;
}

function describe(holder: LockHolder): string {
  return `process ${holder.pid} on ${holder.host} (lock taken ${holder.startedAt})`;
}

/**
 * Takes `<dir>.lock` for this process, or throws DataDirInUseError. Resolves to the release,
 * which stops the refresh and deletes the file if it is still this process's.
 */
export async function lockDataDir(dir: string, opts: DataDirLockOptions = {}): Promise<() => Promise<void>> {
  const file = `${dir}.lock`;
  const heartbeatMs = opts.heartbeatMs ?? 10_000;
  const staleMs = opts.staleMs ?? 60_000;
  const pollMs = opts.pollMs ?? 1000;
  const me = currentHolder();
  const advice = `PGlite has one process at a time: stop it first, or use PostgreSQL (DATABASE_URL). If no such Gatehouse process runs, delete ${file}.`;

  for (let attempt = 0; ; attempt++) {
    try {
      const h = await openFile(file, 'wx');
      await h.writeFile(`${JSON.stringify(me)}\n`);
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const text = await readFile(file, 'utf8').catch(() => '');
    const found = parseHolder(text);
    if (found && 'legacyPid' in found) {
      // an earlier Gatehouse's lock (before an upgrade): judged as that version did, by its pid
      // here, so a crash before the upgrade does not leave a lock to delete by hand
      if (found.legacyPid !== me.pid && running(found.legacyPid)) {
        throw new DataDirInUseError(`the embedded database ${dir} is locked by process ${found.legacyPid} of an earlier Gatehouse, which did not record its host or container. ${advice}`);
      }
    } else if (found && samePidNamespace(found, me)) {
      if (holderRuns(found, me)) throw new DataDirInUseError(`the embedded database ${dir} is in use by ${describe(found)}. ${advice}`);
    } else {
      // another container or host (or a lock never written): alive while it is refreshed
      const first = await stat(file).catch(() => undefined);
      if (first) {
        while (Date.now() - first.mtimeMs < staleMs) {
          await sleep(Math.min(pollMs, Math.max(1, staleMs - (Date.now() - first.mtimeMs))));
          const now = await stat(file).catch(() => undefined);
          if (!now) break; // released meanwhile
          if (now.mtimeMs !== first.mtimeMs || now.ino !== first.ino) {
            const holder = parseHolder(await readFile(file, 'utf8').catch(() => ''));
            const who = holder && !('legacyPid' in holder) ? describe(holder) : 'another process';
            throw new DataDirInUseError(`the embedded database ${dir} is in use by ${who}, in another container or on another host (its lock is refreshed). ${advice}`);
          }
        }
      }
    }
    opts.logger?.warn({ file, holder: found ?? text.slice(0, 200) }, 'embedded database: taking over the lock of a process that no longer runs');
    await unlink(file).catch(() => {});
  }

  const timer = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, heartbeatMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    const holder = parseHolder(await readFile(file, 'utf8').catch(() => ''));
    if (holder && !('legacyPid' in holder) && holder.instance === me.instance) await unlink(file).catch(() => {});
  };
}
