/**
 * Credential throttling in the shared KvStore (Redis, or memory when embedded), so every
 * replica sees the same counters.
 *
 * Per account: an attempt *reserves* a slot with an atomic INCR before the password is
 * verified; a count above the limit is refused without verifying. So a burst of parallel
 * guesses never verifies (or counts) more than `accountMaxFailures`, however they interleave
 * (the race keycloak#31726 fixed). The failure that reaches the limit sets a lock for
 * `accountLockSec`; a success resets the counter.
 *
 * Per client IP: failures within a window; checked before verifying and counted after a
 * failure (successes from a shared NAT must not lock it out; the per-account reservation is
 * what bounds parallel guessing against one account).
 *
 * `reserve` with an `ip` does the IP check, the lock check and the reservation in one atomic
 * store call (`KvStore.incrUnlessBlocked`: one Lua script, one round trip on Redis; one
 * synchronous step in memory), so a credential check costs one round trip before verifying
 * and one after (`succeed`'s reset, or the failure counts). A refusal counts nothing.
 *
 * Any store error fails closed with 503 `service_unavailable`.
 */
import type { KvGuard, KvStore } from '@gatehouse/platform/kv';
import type { Config } from '@gatehouse/platform/config';
import { sha256 } from '@gatehouse/platform/crypto';
import { guardStore, throttleErrors } from './throttle.errors';
import type { AuthMetrics } from '../../metrics';

/** A credential kind: each has its own counters. */
export type ThrottleScope = 'password' | 'forgot' | 'reset' | 'verify' | 'resend' | 'mfa' | 'admin-reset' | 'email-change' | 'delete-account';

export interface ThrottleLimits {
  accountMaxFailures: number;
  accountLockSec: number;
  ipMaxFailures: number;
  ipWindowSec: number;
}

/** A reserved account attempt; pass it back to `fail` or `succeed`. */
export interface Reservation {
  key: string;
  count: number;
  scope?: ThrottleScope;
}

/** Options of {@link Throttle.reserve}. */
export interface ReserveOptions {
  /** Also refuse (in the same store call) when this client IP has used up its failures. */
  ip?: string;
  /** the account limit (default `accountMaxFailures`) */
  max?: number;
  /** Called before the 429 when the account (not the IP) refused: locked, or over the limit. */
  onAccountRefused?: () => void;
}

/** Creates the throttle over the shared store. */
export function createThrottle({ kv, limits, metrics }: { kv: KvStore; limits: Config['throttle'] | ThrottleLimits; metrics?: Pick<AuthMetrics, 'lockout'> }) {
  const lockMs = limits.accountLockSec * 1000;
  const ipWindowMs = limits.ipWindowSec * 1000;

  // Keys hold hashes, not the typed email: the store is not a place for personal data.
  const accountKey = (scope: ThrottleScope, tenantId: string, subject: string) => `auth:thr:${scope}:a:${sha256(`${tenantId}:${subject}`)}`;
  const ipKey = (scope: ThrottleScope, ip: string) => `auth:thr:${scope}:ip:${sha256(ip)}`;
  const ipGuard = (scope: ThrottleScope, ip: string): KvGuard => ({ key: ipKey(scope, ip), atLeast: limits.ipMaxFailures });

  return {
    /**
     * Refuses with 429 when this IP has used up its failures for the window. Where an account
     * reservation follows, `reserve(…, { ip })` does both in one store call instead.
     */
    checkIp(scope: ThrottleScope, ip: string): Promise<void> {
      return guardStore(async () => {
        const v = await kv.get(ipKey(scope, ip));
        if (v !== null && Number(v) >= limits.ipMaxFailures) throw throttleErrors.tooMany(ipWindowMs);
      });
    },

    /** Counts one failure for this IP. */
    failIp(scope: ThrottleScope, ip: string): Promise<void> {
      return guardStore(async () => {
        await kv.incr(ipKey(scope, ip), ipWindowMs);
      });
    },

    /**
     * Reserves an attempt for an account (a user id, or the typed identifier when no user
     * matches, so unknown accounts behave like known ones). Throws 429 when `ip` has used up
     * its failures, while the account is locked, or when the reservation is over the limit;
     * the IP and the lock refuse without counting. One store call.
     */
    reserve(scope: ThrottleScope, tenantId: string, subject: string, opts: ReserveOptions = {}): Promise<Reservation> {
      const max = opts.max ?? limits.accountMaxFailures;
      return guardStore(async () => {
        const key = accountKey(scope, tenantId, subject);
        // The lock holds its end time and expires then (the PX of `fail`): it refuses while it
        // exists, and its remaining TTL is the Retry-After.
        const guards: KvGuard[] = [{ key: `${key}:lock` }];
        if (opts.ip !== undefined) guards.unshift(ipGuard(scope, opts.ip));
        const r = await kv.incrUnlessBlocked(key, lockMs, guards);
        if (r.blockedBy !== undefined) {
          if (guards[r.blockedBy]!.atLeast === undefined) opts.onAccountRefused?.();
          throw throttleErrors.tooMany(r.resetMs);
        }
        if (r.count > max) {
          opts.onAccountRefused?.();
          throw throttleErrors.tooMany(r.resetMs);
        }
        return { key, count: r.count, scope };
      });
    },

    /** Records a failed attempt: the one that reaches the limit starts the lock. */
    fail(r: Reservation, max = limits.accountMaxFailures): Promise<void> {
      return guardStore(async () => {
        if (r.count >= max && (await kv.setNx(`${r.key}:lock`, String(Date.now() + lockMs), lockMs))) metrics?.lockout(r.scope ?? 'other');
      });
    },

    /** A success: the consecutive-failure count starts again. */
    succeed(r: Reservation): Promise<void> {
      return guardStore(() => kv.del(r.key));
    },

    /**
     * Counts a non-credential action (forgot-password, resend) per subject; 429 above `max` per
     * window. With `ip`, first refuses (counting nothing) when that IP has used up its
     * failures, in the same store call.
     */
    limit(scope: ThrottleScope, tenantId: string, subject: string, max: number, windowSec: number, opts: { ip?: string } = {}): Promise<void> {
      return guardStore(async () => {
        const r = await kv.incrUnlessBlocked(accountKey(scope, tenantId, subject), windowSec * 1000, opts.ip === undefined ? [] : [ipGuard(scope, opts.ip)]);
        if (r.blockedBy !== undefined || r.count > max) throw throttleErrors.tooMany(r.resetMs);
      });
    },
  };
}
export type Throttle = ReturnType<typeof createThrottle>;
