import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * ioredis, loaded when the first Redis store is made: the embedded mode never loads it
 * (~65 files, ~50 ms of CPU at every `npm start`). Through `require` because creating a store
 * is synchronous (ioredis is CommonJS); the OpenTelemetry instrumentation patches a
 * `require`d ioredis as it does an imported one.
 */
const ioredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis');

/**
 * Short-lived shared state: rate-limit counters, single-use markers, small caches and a
 * pub/sub channel. Redis in production (shared by every replica), memory in the embedded mode.
 */
export interface KvStore {
  readonly kind: 'redis' | 'memory';
  /** Atomic increment; sets the TTL when the key is created; returns the new count and ms until the window resets. */
  incr(key: string, ttlMs: number): Promise<{ count: number; resetMs: number }>;
  /**
   * `incr(key, ttlMs)` unless a guard blocks it, as one atomic step (one round trip to Redis):
   * a guard blocks when its key exists and, with `atLeast`, holds a number of at least that.
   * The first blocking guard wins: its index in `guards` and the ms until it expires (0 when it
   * has no TTL) come back, and nothing is counted.
   */
  incrUnlessBlocked(key: string, ttlMs: number, guards: readonly KvGuard[]): Promise<KvGuardedCount>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Set only if absent (for single-use markers); true when it was set. */
  setNx(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Atomically read and delete (single-use values). */
  take(key: string): Promise<string | null>;
  del(key: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribe to a channel; resolves to an unsubscribe function.
   * `onResubscribed` runs after the subscription was re-established following a lost
   * connection: messages published meanwhile were missed, so callers holding a local copy
   * of shared state reload it there.
   */
  subscribe(
    channel: string,
    handler: (message: string) => void,
    onResubscribed?: () => void,
  ): Promise<() => Promise<void>>;
  /** Throws when the store is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The command connection, exposed so @fastify/rate-limit can share it (redis kind only). */
  readonly redis?: Redis;
}

/** A key that blocks {@link KvStore.incrUnlessBlocked}: while it exists (and holds at least `atLeast`). */
export interface KvGuard {
  key: string;
  atLeast?: number;
}

/** The answer of {@link KvStore.incrUnlessBlocked}: the new count, or the guard that blocked it. */
export type KvGuardedCount = { blockedBy?: undefined; count: number; resetMs: number } | { blockedBy: number; resetMs: number };

/** Options for {@link createKvStore}. */
export interface KvStoreOptions {
  /** `redis://…` or `rediss://…`; unset selects the in-memory store. */
  url?: string;
  /** Prepended to every key and channel, so several deployments can share one Redis. */
  keyPrefix?: string;
  logger: Logger;
  /** Redis only: a command that gets no reply within this time fails (default 2000). */
  commandTimeoutMs?: number;
  /** Redis only: how long the first commands wait for the initial connection (default 3000). */
  connectTimeoutMs?: number;
  /** Redis only: client name shown by CLIENT LIST (the subscriber connection adds `:sub`). */
  name?: string;
}

/**
 * Create the key-value store: Redis when `url` is given, otherwise an in-process store.
 * The Redis store fails fast while Redis is unreachable (no offline queue, one retry), so
 * callers such as credential endpoints can fail closed with a 503 instead of hanging.
 */
export function createKvStore(opts: KvStoreOptions): KvStore {
  return opts.url ? createRedisStore(opts.url, opts) : createMemoryStore(opts);
}

// INCR and the expiry in one script, so a crash or a lost connection between the two can
// never leave a counter without a TTL (a permanent lockout). The `ttl < 0` test also repairs a
// key that somehow lost its TTL, and works on Redis < 7 (no PEXPIRE NX).
const INCR_BODY = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
`;
const INCR_SCRIPT = `${INCR_BODY}return {count, ttl}`;

// The guards (KEYS[2..], each with its threshold in ARGV[2..], '' for "exists"), then the same
// INCR: one script, so the check and the count are one atomic step and one round trip. Answers
// {0, count, ttl}, or {guard, 0, ttl of that guard} (guard counted from 1). The keys live in
// different hash slots, which only a single Redis (the one ioredis client here) allows.
const GUARDED_INCR_SCRIPT = `
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and (ARGV[i] == '' or (tonumber(v) or 0) >= tonumber(ARGV[i])) then
    return {i - 1, 0, redis.call('PTTL', KEYS[i])}
  end
end
${INCR_BODY}return {0, count, ttl}`;

type RedisWithScripts = Redis & {
  gatehouseIncr(key: string, ttlMs: number): Promise<[number, number]>;
  gatehouseGuardedIncr(numKeys: number, ...keysThenArgs: (string | number)[]): Promise<[number, number, number]>;
};

function createRedisStore(url: string, opts: KvStoreOptions): KvStore {
  const { logger } = opts;
  const prefix = opts.keyPrefix ?? '';
  const commandTimeout = opts.commandTimeoutMs ?? 2000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
  const options = {
    // ioredis applies the prefix to keys (also inside scripts via KEYS and in
    // @fastify/rate-limit), but not to pub/sub channels: those are prefixed below.
    keyPrefix: prefix,
    // Fail fast instead of queueing while Redis is down: limits and single-use markers must
    // fail closed quickly, not hang a request until Redis comes back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout,
    connectTimeout: connectTimeoutMs,
    // Reconnect forever with a capped delay; each command fails fast meanwhile.
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
    connectionName: opts.name,
  };

  const { Redis } = ioredis();
  const redis = new Redis(url, options) as RedisWithScripts;
  redis.defineCommand('gatehouseIncr', { numberOfKeys: 1, lua: INCR_SCRIPT });
  // no numberOfKeys: the call passes it first (the number of guards varies)
  redis.defineCommand('gatehouseGuardedIncr', { lua: GUARDED_INCR_SCRIPT });
  const startup = watchConnection(redis, 'redis', logger, connectTimeoutMs);

  let sub: { conn: Redis; startup: Promise<void> } | undefined;
  const handlers = new Map<string, Set<(message: string) => void>>();
  const resubscribed = new Set<() => void>();

  function getSub(): { conn: Redis; startup: Promise<void> } {
    if (sub) return sub;
    // A connection in subscriber mode cannot run other commands, hence the second one.
    const conn = new Redis(url, {
      ...options,
      keyPrefix: undefined,
      connectionName: opts.name ? `${opts.name}:sub` : undefined,
    });
    const connStartup = watchConnection(conn, 'redis subscriber', logger, connectTimeoutMs);
    conn.on('message', (channel: string, message: string) => {
      for (const h of handlers.get(channel) ?? []) {
        try {
          h(message);
        } catch (err) {
          logger.error({ err, channel }, 'kv subscriber handler failed');
        }
      }
    });
    let readyCount = 0;
    conn.on('ready', () => {
      readyCount += 1;
      if (readyCount === 1) return;
      // ioredis re-sends SUBSCRIBE on reconnect before emitting 'ready'; a PING on the same
      // connection is answered only after that, so listeners reload when no message can be
      // missed any more.
      conn.ping().then(
        () => {
          for (const cb of resubscribed) {
            try {
              cb();
            } catch (err) {
              logger.error({ err }, 'kv resubscribe callback failed');
            }
          }
        },
        (err: unknown) => logger.warn({ err }, 'kv subscriber ping after reconnect failed'),
      );
    });
    sub = { conn, startup: connStartup };
    return sub;
  }

  const ch = (channel: string) => prefix + channel;

  return {
    kind: 'redis',
    redis,
    async incr(key, ttlMs) {
      await startup;
      const [count, ttl] = await redis.gatehouseIncr(key, Math.max(1, Math.ceil(ttlMs)));
      return { count: Number(count), resetMs: Number(ttl) };
    },
    async incrUnlessBlocked(key, ttlMs, guards) {
      await startup;
      const [blockedBy, count, ttl] = await redis.gatehouseGuardedIncr(
        1 + guards.length,
        key,
        ...guards.map((g) => g.key),
        Math.max(1, Math.ceil(ttlMs)),
        ...guards.map((g) => (g.atLeast === undefined ? '' : g.atLeast)),
      );
      if (Number(blockedBy) > 0) return { blockedBy: Number(blockedBy) - 1, resetMs: Math.max(0, Number(ttl)) };
      return { count: Number(count), resetMs: Number(ttl) };
    },
    async get(key) {
      await startup;
      return redis.get(key);
    },
    async set(key, value, ttlMs) {
      await startup;
      if (ttlMs === undefined) await redis.set(key, value);
      else await redis.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
    },
    async setNx(key, value, ttlMs) {
      await startup;
      const r = await redis.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      return r === 'OK';
    },
    async take(key) {
      await startup;
      return redis.getdel(key);
    },
    async del(key) {
      await startup;
      await redis.del(key);
    },
    async publish(channel, message) {
      await startup;
      await redis.publish(ch(channel), message);
    },
    async subscribe(channel, handler, onResubscribed) {
      const s = getSub();
      await s.startup;
      const name = ch(channel);
      let set = handlers.get(name);
      if (!set) {
        set = new Set();
        handlers.set(name, set);
      }
      const first = set.size === 0;
      set.add(handler);
      if (onResubscribed) resubscribed.add(onResubscribed);
      try {
        if (first) await s.conn.subscribe(name);
      } catch (err) {
        set.delete(handler);
        if (onResubscribed) resubscribed.delete(onResubscribed);
        throw err;
      }
      return async () => {
        if (onResubscribed) resubscribed.delete(onResubscribed);
        const current = handlers.get(name);
        if (!current?.delete(handler) || current.size > 0) return;
        handlers.delete(name);
        // While disconnected there is nothing to unsubscribe from, and the channel is no
        // longer remembered for the automatic resubscribe either.
        if (s.conn.status === 'ready') await s.conn.unsubscribe(name);
      };
    },
    async ping() {
      await startup;
      await redis.ping();
    },
    async close() {
      handlers.clear();
      resubscribed.clear();
      await Promise.all([quit(redis), sub ? quit(sub.conn) : undefined]);
    },
  };
}

/**
 * Log connection changes once per transition (not on every retry) and return a promise that
 * settles when the first connection attempt does: commands issued right after creation wait
 * for it, later ones fail fast while Redis is down.
 */
function watchConnection(conn: Redis, name: string, logger: Logger, timeoutMs: number): Promise<void> {
  let healthy = true;
  conn.on('ready', () => {
    if (!healthy) logger.info(`${name} connection restored`);
    healthy = true;
  });
  conn.on('error', (err: Error) => {
    if (healthy) logger.warn({ err }, `${name} connection error`);
    healthy = false;
  });
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      conn.off('ready', done);
      conn.off('error', done);
      conn.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    conn.once('ready', done);
    conn.once('error', done);
    conn.once('end', done);
  });
}

async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'end') return;
  try {
    if (conn.status === 'ready') {
      await conn.quit();
      return;
    }
  } catch {
    // QUIT failed (connection dropped meanwhile): fall through to a hard disconnect.
  }
  conn.disconnect();
}

interface MemoryEntry {
  value: string;
  /** epoch ms; undefined = no expiry */
  expiresAt?: number;
}

function createMemoryStore(opts: KvStoreOptions): KvStore {
  const prefix = opts.keyPrefix ?? '';
  const data = new Map<string, MemoryEntry>();
  const channels = new Map<string, Set<(message: string) => void>>();

  // Expired keys are dropped lazily on access; the sweep bounds memory for keys that are
  // never read again (rate-limit counters of one-off clients).
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, e] of data) if (e.expiresAt !== undefined && e.expiresAt <= now) data.delete(k);
  }, 30_000);
  sweep.unref();

  function live(key: string): MemoryEntry | undefined {
    const k = prefix + key;
    const e = data.get(k);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      data.delete(k);
      return undefined;
    }
    return e;
  }

  function incr(key: string, ttlMs: number): { count: number; resetMs: number } {
    const now = Date.now();
    const e = live(key);
    if (!e) {
      data.set(prefix + key, { value: '1', expiresAt: now + ttlMs });
      return { count: 1, resetMs: ttlMs };
    }
    const count = (Number.parseInt(e.value, 10) || 0) + 1;
    e.value = String(count);
    if (e.expiresAt === undefined) e.expiresAt = now + ttlMs;
    return { count, resetMs: Math.max(0, e.expiresAt - now) };
  }

  // Every operation below completes synchronously before its promise resolves, so
  // read-modify-write sequences are atomic on the single JS thread.
  return {
    kind: 'memory',
    async incr(key, ttlMs) {
      return incr(key, ttlMs);
    },
    async incrUnlessBlocked(key, ttlMs, guards) {
      for (const [i, g] of guards.entries()) {
        const e = live(g.key);
        // a non-numeric value counts as 0, as `tonumber(v) or 0` in the Redis script
        if (e && (g.atLeast === undefined || (Number(e.value) || 0) >= g.atLeast)) {
          return { blockedBy: i, resetMs: e.expiresAt === undefined ? 0 : Math.max(0, e.expiresAt - Date.now()) };
        }
      }
      return incr(key, ttlMs);
    },
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlMs) {
      data.set(prefix + key, { value, expiresAt: ttlMs === undefined ? undefined : Date.now() + ttlMs });
    },
    async setNx(key, value, ttlMs) {
      if (live(key)) return false;
      data.set(prefix + key, { value, expiresAt: Date.now() + ttlMs });
      return true;
    },
    async take(key) {
      const e = live(key);
      if (!e) return null;
      data.delete(prefix + key);
      return e.value;
    },
    async del(key) {
      data.delete(prefix + key);
    },
    async publish(channel, message) {
      const set = channels.get(prefix + channel);
      if (!set) return;
      // Delivered on a later tick, like Redis, so a publisher never re-enters its own handler.
      for (const h of [...set]) {
        setImmediate(() => {
          try {
            h(message);
          } catch (err) {
            opts.logger.error({ err, channel }, 'kv subscriber handler failed');
          }
        });
      }
    },
    async subscribe(channel, handler) {
      // In-process delivery cannot be interrupted, so there is never a resubscribe.
      const name = prefix + channel;
      let set = channels.get(name);
      if (!set) {
        set = new Set();
        channels.set(name, set);
      }
      set.add(handler);
      return async () => {
        const current = channels.get(name);
        current?.delete(handler);
        if (current?.size === 0) channels.delete(name);
      };
    },
    async ping() {},
    async close() {
      clearInterval(sweep);
      channels.clear();
      data.clear();
    },
  };
}
