import type { Logger } from 'pino';
import type client from 'prom-client';
import type { KvStore } from './kv';
import { counter } from './metrics';

/**
 * Revoked sessions, users and tenants, checked synchronously on every request so an access
 * token stops working everywhere within a second of logout, password change or disablement,
 * without waiting for it to expire.
 */
export interface RevocationList {
  revokeSession(sid: string, ttlMs: number): Promise<void>;
  /** Every token of this user issued at or before `beforeSec` (epoch seconds). */
  revokeUser(userId: string, beforeSec: number, ttlMs: number): Promise<void>;
  /** Every token of this tenant issued at or before `beforeSec` (epoch seconds). */
  revokeTenant(tenantId: string, beforeSec: number, ttlMs: number): Promise<void>;
  /** Synchronous check against the local copy; `iat` in epoch seconds. */
  isRevoked(claims: { sid?: string; sub?: string; tid?: string; iat?: number }): boolean;
  /** Loads the current entries from the shared store and subscribes to changes. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link createRevocationList}. */
export interface RevocationListOptions {
  kv: KvStore;
  logger: Logger;
  /** Pub/sub channel; the Redis sorted set is `<channel>:entries` (default `revocations`). */
  channel?: string;
  /**
   * How often the local copy is pruned and reloaded from the store (default 15000 ms). The
   * reload is a safety net only: changes arrive by pub/sub, and a lost subscription reloads
   * at once when it is re-established.
   */
  refreshMs?: number;
  /** where published and applied revocations are counted */
  registry?: client.Registry;
}

type Kind = 's' | 'u' | 't';

/** One revocation as stored and published. `before` is 0 for sessions. */
interface Entry {
  k: Kind;
  id: string;
  before: number;
  /** epoch ms after which the entry no longer matters (the tokens it covers have expired) */
  exp: number;
}

interface Cut {
  before: number;
  exp: number;
}

// The memory store lives in one process, so the shared entries do too: every list created
// on the same memory KvStore sees them, including lists started later.
const memoryEntries = new WeakMap<KvStore, Map<string, number>>();

/**
 * Create the revocation list. Entries live in a Redis sorted set scored by expiry (so a
 * process that starts later loads them) and each change is published so every process
 * updates its local copy at once; with the memory store the same happens in process.
 * The revoking process applies an entry locally before it writes it anywhere.
 */
export function createRevocationList(opts: RevocationListOptions): RevocationList {
  const { kv, logger } = opts;
  const channel = opts.channel ?? 'revocations';
  const setKey = `${channel}:entries`;
  const refreshMs = opts.refreshMs ?? 15_000;

  const sessions = new Map<string, number>();
  const users = new Map<string, Cut[]>();
  const tenants = new Map<string, Cut[]>();

  let unsubscribe: (() => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const KIND_LABEL = { s: 'session', u: 'user', t: 'tenant' } as const;
  const published = opts.registry ? counter(opts.registry, 'gatehouse_revocations_published_total', 'Revocations this process published, by kind (session, user, tenant)', ['kind']) : undefined;
  const applied = opts.registry
    ? counter(opts.registry, 'gatehouse_revocations_applied_total', 'Revocations received from the shared store and applied to this process\'s list, by kind', ['kind'])
    : undefined;
  for (const kind of Object.values(KIND_LABEL)) {
    published?.inc({ kind }, 0);
    applied?.inc({ kind }, 0);
  }

  function apply(e: Entry): void {
    if (e.exp <= Date.now()) return;
    if (e.k === 's') {
      sessions.set(e.id, Math.max(sessions.get(e.id) ?? 0, e.exp));
      return;
    }
    const map = e.k === 'u' ? users : tenants;
    const cuts = map.get(e.id) ?? [];
    // Keep only cuts that no other cut covers both in time and in reach.
    if (cuts.some((c) => c.before >= e.before && c.exp >= e.exp)) return;
    const kept = cuts.filter((c) => !(e.before >= c.before && e.exp >= c.exp));
    kept.push({ before: e.before, exp: e.exp });
    map.set(e.id, kept);
  }

  function prune(): void {
    const now = Date.now();
    for (const [sid, exp] of sessions) if (exp <= now) sessions.delete(sid);
    for (const map of [users, tenants]) {
      for (const [id, cuts] of map) {
        const live = cuts.filter((c) => c.exp > now);
        if (live.length === 0) map.delete(id);
        else if (live.length !== cuts.length) map.set(id, live);
      }
    }
  }

  function cutApplies(cuts: Cut[] | undefined, iat: number | undefined, now: number): boolean {
    if (!cuts) return false;
    // A token without iat cannot show it was issued after the cut: treat it as revoked.
    return cuts.some((c) => c.exp > now && (iat === undefined || iat <= c.before));
  }

  const member = (e: Entry) => JSON.stringify([e.k, e.id, e.before]);

  function parseMember(m: string, exp: number): Entry | undefined {
    try {
      const [k, id, before] = JSON.parse(m) as unknown[];
      if ((k === 's' || k === 'u' || k === 't') && typeof id === 'string' && typeof before === 'number') {
        return { k, id, before, exp };
      }
    } catch {
      // fall through: a foreign or corrupt member is ignored, not fatal
    }
    logger.warn('ignoring malformed revocation entry');
    return undefined;
  }

  function parseMessage(message: string): Entry | undefined {
    try {
      const e = JSON.parse(message) as Partial<Entry>;
      if (
        (e.k === 's' || e.k === 'u' || e.k === 't') &&
        typeof e.id === 'string' &&
        typeof e.before === 'number' &&
        typeof e.exp === 'number'
      ) {
        return { k: e.k, id: e.id, before: e.before, exp: e.exp };
      }
    } catch {
      // fall through
    }
    logger.warn('ignoring malformed revocation message');
    return undefined;
  }

  async function load(): Promise<void> {
    const now = Date.now();
    if (kv.redis) {
      const flat = await kv.redis.zrangebyscore(setKey, now, '+inf', 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const e = parseMember(flat[i]!, Number(flat[i + 1]));
        if (e) apply(e);
      }
      // Housekeeping so the set does not grow without bound; harmless if several run it.
      await kv.redis.zremrangebyscore(setKey, '-inf', now);
    } else {
      const shared = memoryEntries.get(kv);
      if (!shared) return;
      for (const [m, exp] of shared) {
        if (exp <= now) shared.delete(m);
        else {
          const e = parseMember(m, exp);
          if (e) apply(e);
        }
      }
    }
  }

  async function revoke(k: Kind, id: string, before: number, ttlMs: number): Promise<void> {
    if (!id) throw new Error('revocation needs an id');
    if (!(ttlMs > 0)) throw new Error('revocation ttlMs must be positive');
    const e: Entry = { k, id, before, exp: Date.now() + ttlMs };
    // Local first: this process must reject the token from now on even if the shared store
    // is down (the caller still gets the error below and can answer 503).
    apply(e);
    const m = member(e);
    if (kv.redis) {
      // GT: a shorter, later revocation of the same cut never shortens a longer one.
      await kv.redis.zadd(setKey, 'GT', e.exp, m);
    } else {
      let shared = memoryEntries.get(kv);
      if (!shared) {
        shared = new Map();
        memoryEntries.set(kv, shared);
      }
      shared.set(m, Math.max(shared.get(m) ?? 0, e.exp));
    }
    await kv.publish(channel, JSON.stringify(e));
    published?.inc({ kind: KIND_LABEL[k] });
    logger.debug({ kind: k, id, before }, 'revocation published');
  }

  async function reload(reason: string): Promise<void> {
    try {
      await load();
    } catch (err) {
      logger.warn({ err, reason }, 'revocation list reload failed; keeping the local copy');
    }
  }

  return {
    revokeSession: (sid, ttlMs) => revoke('s', sid, 0, ttlMs),
    revokeUser: (userId, beforeSec, ttlMs) => revoke('u', userId, beforeSec, ttlMs),
    revokeTenant: (tenantId, beforeSec, ttlMs) => revoke('t', tenantId, beforeSec, ttlMs),

    isRevoked(claims) {
      const now = Date.now();
      if (claims.sid !== undefined) {
        const exp = sessions.get(claims.sid);
        if (exp !== undefined && exp > now) return true;
      }
      if (claims.sub !== undefined && cutApplies(users.get(claims.sub), claims.iat, now)) return true;
      if (claims.tid !== undefined && cutApplies(tenants.get(claims.tid), claims.iat, now)) return true;
      return false;
    },

    async start() {
      if (unsubscribe) return;
      // Subscribe before loading, so an entry written in between arrives by one path or the other.
      unsubscribe = await kv.subscribe(
        channel,
        (message) => {
          const e = parseMessage(message);
          if (e) {
            apply(e);
            applied?.inc({ kind: KIND_LABEL[e.k] });
          }
        },
        () => void reload('resubscribed'),
      );
      try {
        // load() reads through kv.redis directly: wait for the command connection first
        // (without the offline queue a command sent before it is ready fails at once)
        await kv.ping();
        await load();
      } catch (err) {
        await unsubscribe();
        unsubscribe = undefined;
        throw err;
      }
      timer = setInterval(() => {
        prune();
        void reload('periodic');
      }, refreshMs);
      timer.unref();
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const u = unsubscribe;
      unsubscribe = undefined;
      if (u) await u();
    },
  };
}
