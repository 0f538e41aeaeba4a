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
 * Any store error fails closed with 503 `service_unavailable`.
 */
import type { KvStore } from '@gatehouse/platform/kv';
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

/** Creates the throttle over the shared store. */
export function createThrottle({ kv, limits, metrics }: { kv: KvStore; limits: Config['throttle'] | ThrottleLimits; metrics?: Pick<AuthMetrics, 'lockout'> }) {
  const lockMs = limits.accountLockSec * 1000;
  const ipWindowMs = limits.ipWindowSec * 1000;

  // Keys hold hashes, not the typed email: the store is not a place for personal data.
  const accountKey = (scope: ThrottleScope, tenantId: string, subject: string) => `auth:thr:${scope}:a:${sha256(`${tenantId}:${subject}`)}`;
  const ipKey = (scope: ThrottleScope, ip: string) => `auth:thr:${scope}:ip:${sha256(ip)}`;

  return {
    /** Refuses with 429 when this IP has used up its failures for the window. */
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
     * matches, so unknown accounts behave like known ones). Throws 429 while locked or when the
     * reservation is over the limit.
     */
    reserve(scope: ThrottleScope, tenantId: string, subject: string, max = limits.accountMaxFailures): Promise<Reservation> {
      return guardStore(async () => {
        const key = accountKey(scope, tenantId, subject);
        const lock = await kv.get(`${key}:lock`);
        if (lock !== null && Number(lock) > Date.now()) throw throttleErrors.tooMany(Number(lock) - Date.now());
        const { count, resetMs } = await kv.incr(key, lockMs);
        if (count > max) throw throttleErrors.tooMany(lock !== null ? Number(lock) - Date.now() : resetMs);
        return { key, count, scope };
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

    /** Counts a non-credential action (forgot-password, resend) per subject; 429 above `max` per window. */
    limit(scope: ThrottleScope, tenantId: string, subject: string, max: number, windowSec: number): Promise<void> {
      return guardStore(async () => {
        const { count, resetMs } = await kv.incr(accountKey(scope, tenantId, subject), windowSec * 1000);
        if (count > max) throw throttleErrors.tooMany(resetMs);
      });
    },
  };
}
export type Throttle = ReturnType<typeof createThrottle>;
