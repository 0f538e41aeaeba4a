/**
 * The revocation feed the gateway and every Gatehouse service read (packages/platform/src/
 * revocation.ts), read here the same way, so a token stops working in your service within a
 * second of logout, password change, user or tenant disablement:
 *
 * - entries live in the Redis sorted set `<keyPrefix>revocations:entries`, member
 *   `JSON [kind, id, before]`, score = epoch ms until which the entry matters;
 * - each new entry is published on the channel `<keyPrefix>revocations` as
 *   `{"k","id","before","exp"}`;
 * - kinds: `s` a session (`sid`), `u` every token of a user (`sub`) issued at or before
 *   `before` (epoch s), `t` the same for a tenant (`tid`).
 *
 * Subscribe first, then load the set (an entry written in between arrives one way or the
 * other); reload after a reconnect (messages published meanwhile were missed) and every
 * `refreshMs` as a safety net. Read-only: this process never revokes.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface RevocationFeedOptions {
  /** the Redis the Gatehouse deployment uses (`REDIS_URL`) */
  redisUrl?: string;
  /** or a connected client to duplicate (one connection is needed for the subscription) */
  redis?: Redis;
  /** the deployment's Redis key prefix, if any (default none) */
  keyPrefix?: string;
  /** default `revocations` */
  channel?: string;
  /** safety-net reload interval (default 15000 ms) */
  refreshMs?: number;
  /** extra ioredis options */
  redisOptions?: RedisOptions;
  /** told about a failed reload (default: ignored; the local copy is kept) */
  onError?: (err: unknown) => void;
  /** how long start() waits for Redis before it fails (default 5000 ms; verify then answers 503 and tries again) */
  startTimeoutMs?: number;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Cut {
  before: number;
  exp: number;
}

export interface RevocationFeed {
  /** connects, subscribes and loads the current entries */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `iat` in epoch seconds */
  isRevoked(claims: { sid?: string; sub?: string; tid?: string; iat?: number }): boolean;
}

export function createRevocationFeed(opts: RevocationFeedOptions): RevocationFeed {
  const prefix = opts.keyPrefix ?? '';
  const channel = prefix + (opts.channel ?? 'revocations');
  const setKey = `${channel}:entries`;
  const refreshMs = opts.refreshMs ?? 15_000;
  const sessions = new Map<string, number>();
  const users = new Map<string, Cut[]>();
  const tenants = new Map<string, Cut[]>();
  let cmd: Redis | undefined;
  let sub: Redis | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let starting: Promise<void> | undefined;

  function apply(k: unknown, id: unknown, before: unknown, exp: number): void {
    if (typeof id !== 'string' || typeof before !== 'number' || !(exp > Date.now())) return;
    if (k === 's') sessions.set(id, Math.max(sessions.get(id) ?? 0, exp));
    else if (k === 'u' || k === 't') {
      const map = k === 'u' ? users : tenants;
      const cuts = (map.get(id) ?? []).filter((c) => c.exp > Date.now() && !(before >= c.before && exp >= c.exp));
      if (!cuts.some((c) => c.before >= before && c.exp >= exp)) cuts.push({ before, exp });
      map.set(id, cuts);
    }
  }

  async function load(): Promise<void> {
    if (!cmd) return;
    const flat = await cmd.zrangebyscore(setKey, Date.now(), '+inf', 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        const [k, id, before] = JSON.parse(flat[i]!) as unknown[];
        apply(k, id, before, Number(flat[i + 1]));
      } catch {
        // a foreign member: ignored
      }
    }
  }

  const reload = () => load().catch((err: unknown) => opts.onError?.(err));

  const cutApplies = (cuts: Cut[] | undefined, iat: number | undefined, now: number) =>
    !!cuts && cuts.some((c) => c.exp > now && (iat === undefined || iat <= c.before));

  async function stop(): Promise<void> {
    starting = undefined;
    if (timer) clearInterval(timer);
    timer = undefined;
    const conns = [sub, cmd];
    sub = cmd = undefined;
    await Promise.all(conns.map((c) => c?.quit().catch(() => c.disconnect())));
  }

  return {
    start() {
      // a failed start closes its connections; the next call tries again
      starting ??= connect().catch(async (err: unknown) => {
        await stop();
        throw err;
      });
      return starting;
    },
    stop,
    isRevoked(claims) {
      const now = Date.now();
      if (claims.sid !== undefined) {
        const exp = sessions.get(claims.sid);
        if (exp !== undefined && exp > now) return true;
      }
      if (claims.sub !== undefined && cutApplies(users.get(claims.sub), claims.iat, now)) return true;
      return claims.tid !== undefined && cutApplies(tenants.get(claims.tid), claims.iat, now);
    },
  };

  async function connect(): Promise<void> {
    const base: RedisOptions = { maxRetriesPerRequest: 2, ...opts.redisOptions };
    cmd = opts.redis ? opts.redis.duplicate() : new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379', base);
    sub = cmd.duplicate();
    let first = true;
    sub.on('ready', () => {
      // after a reconnect ioredis resubscribes by itself; what was published meanwhile is reloaded
      if (!first) void reload();
      first = false;
    });
    sub.on('error', (err: unknown) => opts.onError?.(err));
    cmd.on('error', (err: unknown) => opts.onError?.(err));
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      try {
        const e = JSON.parse(message) as { k?: unknown; id?: unknown; before?: unknown; exp?: unknown };
        if (typeof e.exp === 'number') apply(e.k, e.id, e.before, e.exp);
      } catch {
        // not ours: ignored
      }
    });
    const startTimeoutMs = opts.startTimeoutMs ?? 5000;
    await within(sub.subscribe(channel), startTimeoutMs, 'revocation feed subscribe');
    await within(load(), startTimeoutMs, 'revocation feed load');
    timer = setInterval(() => {
      const now = Date.now();
      for (const [sid, exp] of sessions) if (exp <= now) sessions.delete(sid);
      void reload();
    }, refreshMs);
    timer.unref?.();
  }
}
