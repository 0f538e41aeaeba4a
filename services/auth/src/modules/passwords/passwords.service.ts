/**
 * Password hashing: argon2id at OWASP's parameters (m=19456 KiB, t=2, p=1) through
 * @node-rs/argon2, which runs on libuv's thread pool (off the event loop). Imported hashes
 * (bcrypt $2a/$2b/$2y, argon2 with other parameters or variants) verify, and `needsRehash`
 * tells the login to store a current hash once the password is known to be right.
 */
import { hash as argon2Hash, verify as argon2Verify, parseOptions, type Options } from '@node-rs/argon2';
// bcryptjs (pure JS) only verifies hashes imported from other systems, once per user before
// the re-hash; @node-rs/bcrypt 2.x ships a lock-breaking set of platform packages (npm ci fails).
import bcrypt from 'bcryptjs';
import { randomToken } from '@gatehouse/platform/crypto';
import { withSpan } from '@gatehouse/platform/tracing';
import { normalizePassword } from './passwords.policy';
import type { AuthMetrics } from '../../metrics';

/** Current argon2id parameters (algorithm 2 = Argon2id; the package's enum is a const enum). */
export const ARGON2_PARAMS = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Creates the hasher; `start()` computes the dummy hash used for unknown users. */
export function createPasswordHasher(params: { memoryCost: number; timeCost: number; parallelism: number } = ARGON2_PARAMS, metrics?: Pick<AuthMetrics, 'argon2Depth'>) {
  const options = { ...params, algorithm: ARGON2_PARAMS.algorithm } as unknown as Options;
  let dummy: string | undefined;
  // operations handed to libuv's thread pool and not yet finished: the queue an operator
  // watches when logins slow down (argon2 is the costliest step of a login by far)
  let inFlight = 0;
  metrics?.argon2Depth(() => inFlight);
  async function counted<T>(op: string, fn: () => Promise<T>): Promise<T> {
    inFlight += 1;
    try {
      return await withSpan(`argon2 ${op}`, { 'gatehouse.argon2.memory_kib': params.memoryCost }, fn);
    } finally {
      inFlight -= 1;
    }
  }

  async function hashPassword(password: string): Promise<string> {
    return counted('hash', () => argon2Hash(normalizePassword(password), options));
  }

  return {
    hash: hashPassword,

    async start(): Promise<void> {
      dummy ??= await hashPassword(randomToken(16));
    },

    /** True when `password` matches `stored`; false for a mismatch or an unreadable hash. */
    async verify(stored: string, password: string): Promise<boolean> {
      const pw = normalizePassword(password);
      try {
        if (stored.startsWith('$argon2')) return await counted('verify', () => argon2Verify(stored, pw));
        if (BCRYPT.test(stored)) return await bcrypt.compare(pw, stored);
      } catch {
        // a corrupt stored hash must not turn into a 500 or a match
      }
      return false;
    },

    /**
     * Verifies against a hash of a random password with current parameters, so a login for an
     * unknown account costs what a real one does (no enumeration by timing). Always false.
     */
    async verifyDummy(password: string): Promise<false> {
      if (!dummy) dummy = await hashPassword(randomToken(16));
      const d = dummy;
      await counted('verify', () => argon2Verify(d, normalizePassword(password))).catch(() => false);
      return false;
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
