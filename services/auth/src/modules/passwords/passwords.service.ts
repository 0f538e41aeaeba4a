/**
 * Password hashing: argon2id at OWASP's parameters (m=19456 KiB, t=2, p=1) through
 * @node-rs/argon2, run whole on worker threads, one per core (argon2.pool.ts: off the event loop). Imported hashes
 * (bcrypt $2a/$2b/$2y, argon2 with other parameters or variants) verify, and `needsRehash`
 * tells the login to store a current hash once the password is known to be right.
 *
 * Every hash and verification goes through a bounded work queue (config `hashing`): a burst
 * of logins is shed with 503 `overloaded` + Retry-After instead of queueing without end
 * (each waiting request holding on to time, memory and, around it, database work).
 */
import { hash as argon2HashInProcess, parseOptions, verify as argon2VerifyInProcess, type Options } from '@node-rs/argon2';
// bcryptjs (pure JS) only verifies hashes imported from other systems, once per user before
// the re-hash; @node-rs/bcrypt 2.x ships a lock-breaking set of platform packages (npm ci fails).
import bcrypt from 'bcryptjs';
import { randomToken } from '@gatehouse/platform/crypto';
import { withSpan } from '@gatehouse/platform/tracing';
import { createWorkQueue, type WorkQueue } from '@gatehouse/platform/workqueue';
import { normalizePassword } from './passwords.policy';
import { argon2Pool } from './argon2.pool';
import type { AuthMetrics } from '../../metrics';

/** Current argon2id parameters (algorithm 2 = Argon2id; the package's enum is a const enum). */
export const ARGON2_PARAMS = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Queue bounds when none are given (CLI, tests): generous, the work is bounded by its caller there. */
const UNBOUNDED = { concurrency: 4, maxPending: Number.MAX_SAFE_INTEGER, maxWaitMs: Number.MAX_SAFE_INTEGER };

/** Creates the hasher; `start()` begins the dummy hash used for unknown users. */
export function createPasswordHasher(
  params: { memoryCost: number; timeCost: number; parallelism: number } = ARGON2_PARAMS,
  queue: WorkQueue = createWorkQueue(UNBOUNDED),
  metrics?: Pick<AuthMetrics, 'argon2Depth'>,
) {
  const options = { ...params, algorithm: ARGON2_PARAMS.algorithm } as unknown as Options;
  let dummy: Promise<string> | undefined;
  // running and waiting argon2 work: the queue an operator watches when logins slow down
  // (argon2 is the costliest step of a login by far)
  metrics?.argon2Depth(() => queue.active + queue.pending);
  /** One argon2 operation as a trace span. */
  const traced = <T>(op: string, fn: () => Promise<T>): Promise<T> => withSpan(`argon2 ${op}`, { 'gatehouse.argon2.memory_kib': params.memoryCost }, fn);

  // Once serving, every argon2 call runs whole in a worker thread (argon2.pool.ts), off the
  // event loop. Before that (the dummy hash and the superadmin at start, CLI commands) it runs
  // through @node-rs/argon2's own promise functions (libuv's pool): the ~3 ms of synchronous
  // work each holds up no request there, and a process that has not verified a password since
  // it started holds no worker thread (an idle worker with argon2's memory is ~15 MiB of RSS,
  // bench/results/2026-12-07-servers-heap-run3.md).
  let workers = false;
  const argon2Hash = (password: string, o: Options) => (workers ? argon2Pool().hash(password, o) : argon2HashInProcess(password, o));
  const argon2Verify = (stored: string, password: string) => (workers ? argon2Pool().verify(stored, password) : argon2VerifyInProcess(stored, password));

  /**
   * The dummy hash for unknown accounts, computed once (a failure is tried again by the next
   * caller). Unqueued: a login that needs it holds a queue slot already and must not wait for another.
   */
  function dummyHash(): Promise<string> {
    if (!dummy) {
      const made = argon2Hash(randomToken(16), options);
      dummy = made;
      made.catch(() => {
        if (dummy === made) dummy = undefined;
      });
    }
    return dummy;
  }

  function hashPassword(password: string): Promise<string> {
    return queue.run(() => traced('hash', () => argon2Hash(normalizePassword(password), options)));
  }

  /** The verification itself, outside the queue (callers hold a slot). */
  async function verifyNow(stored: string, password: string): Promise<boolean> {
    const pw = normalizePassword(password);
    try {
      if (stored.startsWith('$argon2')) return await traced('verify', () => argon2Verify(stored, pw));
      if (BCRYPT.test(stored)) return await bcrypt.compare(pw, stored);
    } catch {
      // a corrupt stored hash must not turn into a 500 or a match
    }
    return false;
  }

  /**
   * Verifies against the account's own hash, or for an unknown account (or one without a
   * password) against the dummy hash: both cost one verification with current parameters
   * through the same code (no enumeration by timing). Always false without a real hash.
   */
  async function verifyAccountNow(user: { password_hash: string | null } | undefined, password: string): Promise<boolean> {
    const ok = await verifyNow(user?.password_hash ?? (await dummyHash()), password);
    return ok && Boolean(user?.password_hash);
  }

  return {
    hash: hashPassword,

    /**
     * Begins the dummy hash (libuv's pool, ~30 ms on another core), so the first unknown-account
     * login finds it made; the service's start goes on meanwhile instead of waiting for it.
     */
    async start(): Promise<void> {
      void dummyHash().catch(() => {});
    },

    /** From now on argon2 runs on the worker threads (the service is about to take requests). */
    useWorkers(): void {
      workers = true;
    },

    /** True when `password` matches `stored`; false for a mismatch or an unreadable hash. */
    verify(stored: string, password: string): Promise<boolean> {
      return queue.run(() => verifyNow(stored, password));
    },

    /** {@link verifyAccountNow} in a queue slot. */
    verifyAccount(user: { password_hash: string | null } | undefined, password: string): Promise<boolean> {
      return queue.run(() => verifyAccountNow(user, password));
    },

    /**
     * Runs a whole password check (look the account up, reserve a throttle slot, verify) in
     * one queue slot, so the database work around hashing is bounded by the same queue: a
     * burst is shed (503 `overloaded`) before it reaches the database pool. `fn` gets the
     * account verification that does not queue again.
     */
    check<T>(fn: (verifyAccount: typeof verifyAccountNow) => Promise<T>): Promise<T> {
      return queue.run(() => fn(verifyAccountNow));
    },

    /** True when `stored` is not argon2id with exactly the current parameters. */
    needsRehash(stored: string): boolean {
      if (!stored.startsWith('$argon2id$')) return true;
      try {
        const o = parseOptions(stored);
        return o.memoryCost !== params.memoryCost || o.timeCost !== params.timeCost || o.parallelism !== params.parallelism;
      } catch {
        return true;
      }
    },
  };
}
export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
