/**
 * Typed configuration, read once from the environment.
 * Nothing else in the code base reads `process.env`: entry points call {@link loadConfig}
 * and pass the result (or the parts a module needs) down.
 */
import path from 'node:path';

export interface RateLimitSetting {
  /** requests allowed per window; 0 turns the limit off */
  max: number;
  windowMs: number;
}

export interface Config {
  nodeEnv: string;
  host: string;
  /** gateway port in all-in-one mode; the service's own port when a service runs alone */
  port: number;
  dataDir: string;
  logLevel: string;
  /** PostgreSQL URL shared by all services (each keeps its own schema); unset: PGlite */
  databaseUrl?: string;
  serviceDatabaseUrls: { auth?: string; users?: string; audit?: string };
  /**
   * PostgreSQL connections per service (pool size), how long a request waits for one before a
   * 503, and the session limits each connection asks for (0 turns one off): a transaction left
   * idle longer than `idleInTransactionTimeoutSec` is ended by the server, and the server probes
   * an idle connection after `tcpKeepaliveSec`, so a dead host's sessions (and their locks) go.
   * `namedStatements`: the hot statements run as named prepared statements, parsed once per
   * connection (db.pool.ts); off for a pooler that cannot keep them (PgBouncer in transaction
   * mode before 1.21).
   */
  database: { poolSize: number; connectTimeoutMs: number; idleInTransactionTimeoutSec: number; tcpKeepaliveSec: number; namedStatements: boolean };
  redisUrl?: string;
  natsUrl?: string;
  /** JetStream stream name (default GATEHOUSE) and a subject prefix, so deployments can share one NATS */
  natsStream: string;
  natsSubjectPrefix?: string;
  smtpUrl?: string;
  mailFrom: string;
  s3?: { endpoint?: string; bucket: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean };
  publicUrl: string;
  baseDomain: string;
  corsOrigins: string[];
  adminEmail?: string;
  adminPassword?: string;
  /** master secret for encrypting keys and provider secrets at rest; embedded mode keeps one under dataDir */
  secret?: string;
  /** where the gateway finds each service when they run as separate processes */
  serviceUrls: { auth?: string; users?: string; audit?: string };
  /** JWKS URL services use to verify access tokens when auth is another process */
  jwksUrl?: string;
  /** Fastify trustProxy: addresses/CIDRs of proxies whose X-Forwarded-* headers are believed */
  trustProxy: string[];
  /** accept the X-Tenant header: 'always', 'never', or 'localhost' (only when the host is localhost/loopback) */
  tenantHeader: 'always' | 'never' | 'localhost';
  tokens: {
    issuer: string;
    audience: string;
    accessTtlSec: number;
    refreshIdleSec: number;
    refreshAbsoluteSec: number;
    algorithm: 'EdDSA' | 'ES256' | 'RS256';
  };
  throttle: {
    /** consecutive failures per account before a temporary lock (NIST: at most 100) */
    accountMaxFailures: number;
    accountLockSec: number;
    /** failures per client IP per window */
    ipMaxFailures: number;
    ipWindowSec: number;
  };
  /**
   * Password hashing (argon2id) runs at most `concurrency` at once with at most `maxPending`
   * waiting, each at most `maxWaitMs`; beyond that credential requests get 503 `overloaded`.
   */
  hashing: { concurrency: number; maxPending: number; maxWaitMs: number };
  rateLimits: {
    /** per client IP, every route */
    ip: RateLimitSetting;
    /** per authenticated user */
    user: RateLimitSetting;
    /** per client IP on credential endpoints (login, register, password, mfa) */
    credentials: RateLimitSetting;
  };
  bodyLimitBytes: number;
  /**
   * SHUTDOWN_DRAIN_SEC: on SIGTERM, how long a process keeps serving with readiness 503 and
   * `Connection: close` on every answer before it stops accepting (see runUntilSignal); longer
   * than the clients' keep-alive idle timeouts (nginx's upstream keepalive_timeout 4 s, the
   * gateway's pool 4 s) and than the orchestrator's endpoint removal.
   */
  shutdownDrainMs: number;
  /**
   * LISTEN_REUSE_PORT: the public HTTP port is opened with SO_REUSEPORT, so a new process can
   * listen on the same address before the old one stops (a rolling restart without an
   * orchestrator; docs/operations.md). With the host's `net.ipv4.tcp_migrate_req=1`, the
   * connections waiting in the old listener's accept queue when it closes go to the new one
   * instead of being reset.
   */
  listenReusePort: boolean;
  /** the gateway's protections against slow and greedy clients (issue 9) */
  edge: {
    /** a whole request (headers and body) must arrive within this, else 408 `request_timeout` */
    requestTimeoutMs: number;
    /** the request headers must arrive within this (at most requestTimeoutMs) */
    headersTimeoutMs: number;
    /** requests one client IP may have in progress at once; 0 turns the cap off */
    maxInFlightPerIp: number;
  };
  /** Prometheus `/metrics` listener, never the public port (METRICS_PORT, default 9464; 0: a free port) */
  metrics: { host: string; port: number };
  /**
   * The internal gRPC API (docs/grpc.md): GRPC_HOST (default HOST), GRPC_PORT (default 50051;
   * 0: a free port; `off`: not served). One port per process, every service of it behind it.
   */
  grpc: { host: string; port: number | null };
  qr: { tokenTtlSec: number; checkInEarlyMinutes: number };
  /**
   * Deleting rows nobody needs any more (see docs/operations.md, "Retention"): every service
   * runs it on an interval, `gatehouse purge` once. Retentions count from when a row stopped
   * being useful (a session ended, a token was used or expired, an event was published or
   * processed).
   */
  purge: {
    /** seconds between background purges in each service; 0: never in the background (run `gatehouse purge`) */
    intervalSec: number;
    /** rows per delete statement; each batch is its own short transaction */
    batchSize: number;
    /** ended (expired, idle-expired or revoked) sessions, with all their refresh tokens */
    sessionsSec: number;
    /** used or expired one-time tokens (email verification, password reset) */
    oneTimeTokensSec: number;
    /** published outbox rows */
    outboxSec: number;
    /** processed inbox rows (the consumers' dedupe memory): longer than the stream keeps events */
    inboxSec: number;
    /** finished (succeeded or failed) webhook deliveries, with their attempts, after their last change */
    webhookDeliveriesSec: number;
  };
  /** outgoing webhooks (docs/webhooks.md) */
  webhooks: {
    /** deliver to loopback, private, link-local and other non-public addresses (WEBHOOK_ALLOW_PRIVATE=true; development and tests) */
    allowPrivate: boolean;
    /** multiplies every retry delay and the 24 h disable window (WEBHOOK_RETRY_SCALE, default 1; tests use e.g. 0.001) */
    retryScale: number;
    /** how long one delivery attempt may take, connection to response (WEBHOOK_TIMEOUT_MS) */
    timeoutMs: number;
    /** how often the delivery worker looks for due deliveries when nothing nudged it (WEBHOOK_POLL_MS) */
    pollMs: number;
    /** attempts sent at once by one process (WEBHOOK_CONCURRENCY) */
    concurrency: number;
    /** an endpoint is disabled after this many failed attempts in a row (WEBHOOK_DISABLE_AFTER_FAILURES) … */
    disableAfterFailures: number;
    /** … or after failing without a success for this long (WEBHOOK_DISABLE_AFTER_SEC, scaled by retryScale) */
    disableAfterSec: number;
  };
}

type Env = Record<string, string | undefined>;

const DAY = 24 * 3600;

/** Thrown when the environment holds a value that cannot be used; the message names the variable. */
export class ConfigError extends Error {}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const v = str(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${name} must be a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min) throw new ConfigError(`${name} must be at least ${min}`);
  return n;
}

function list(env: Env, name: string): string[] {
  return (str(env, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = str(env, name);
  if (v === undefined) return fallback;
  if (v !== 'true' && v !== 'false') throw new ConfigError(`${name} must be true or false, got "${v}"`);
  return v === 'true';
}

/** A positive decimal number (e.g. a scale factor). */
function decimal(env: Env, name: string, fallback: number): number {
  const v = str(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new ConfigError(`${name} must be a positive number, got "${v}"`);
  return Number(v);
}

function url(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  try {
    new URL(v);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${v}"`);
  }
  return v;
}

function natsToken(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(v)) throw new ConfigError(`${name} must be letters, digits, _ or - (at most 64), got "${v}"`);
  return v;
}

function limit(env: Env, name: string, max: number, windowSec: number): RateLimitSetting {
  return { max: int(env, `${name}_MAX`, max), windowMs: int(env, `${name}_WINDOW_SEC`, windowSec, 1) * 1000 };
}

function edgeLimits(env: Env): Config['edge'] {
  const requestSec = int(env, 'REQUEST_TIMEOUT_SEC', 30, 1);
  const headersSec = int(env, 'HEADERS_TIMEOUT_SEC', Math.min(15, requestSec), 1);
  // Node refuses a headers timeout longer than the request timeout
  if (headersSec > requestSec) throw new ConfigError(`HEADERS_TIMEOUT_SEC (${headersSec}) must not exceed REQUEST_TIMEOUT_SEC (${requestSec})`);
  return { requestTimeoutMs: requestSec * 1000, headersTimeoutMs: headersSec * 1000, maxInFlightPerIp: int(env, 'MAX_IN_FLIGHT_PER_IP', 32) };
}

/** Parses the environment into a {@link Config}. Throws {@link ConfigError} on a bad value. */
export function loadConfig(env: Env): Config {
  const port = int(env, 'PORT', 3000, 0);
  const publicUrl = url(env, 'PUBLIC_URL') ?? `http://localhost:${port || 3000}`;
  const tenantHeader = str(env, 'TENANT_HEADER') ?? 'localhost';
  if (!['always', 'never', 'localhost'].includes(tenantHeader)) {
    throw new ConfigError(`TENANT_HEADER must be always, never or localhost, got "${tenantHeader}"`);
  }
  // RS256: cheapest jose verify on our machines (bench/results/jwt-algorithms.md)
  const algorithm = str(env, 'TOKEN_ALGORITHM') ?? 'RS256';
  if (!['EdDSA', 'ES256', 'RS256'].includes(algorithm)) {
    throw new ConfigError(`TOKEN_ALGORITHM must be EdDSA, ES256 or RS256, got "${algorithm}"`);
  }
  const s3Bucket = str(env, 'S3_BUCKET');
  return {
    nodeEnv: str(env, 'NODE_ENV') ?? 'development',
    host: str(env, 'HOST') ?? '0.0.0.0',
    port,
    dataDir: path.resolve(str(env, 'DATA_DIR') ?? './data'),
    logLevel: str(env, 'LOG_LEVEL') ?? 'info',
    databaseUrl: url(env, 'DATABASE_URL'),
    serviceDatabaseUrls: {
      auth: url(env, 'AUTH_DATABASE_URL'),
      users: url(env, 'USERS_DATABASE_URL'),
      audit: url(env, 'AUDIT_DATABASE_URL'),
    },
    database: {
      poolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1),
      connectTimeoutMs: int(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 1),
      idleInTransactionTimeoutSec: int(env, 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SEC', 60, 0),
      tcpKeepaliveSec: int(env, 'DATABASE_TCP_KEEPALIVE_SEC', 60, 0),
      namedStatements: bool(env, 'DATABASE_NAMED_STATEMENTS', true),
    },
    redisUrl: url(env, 'REDIS_URL'),
    natsUrl: str(env, 'NATS_URL'),
    natsStream: natsToken(env, 'NATS_STREAM') ?? 'GATEHOUSE',
    natsSubjectPrefix: natsToken(env, 'NATS_SUBJECT_PREFIX'),
    smtpUrl: url(env, 'SMTP_URL'),
    mailFrom: str(env, 'MAIL_FROM') ?? 'Gatehouse <no-reply@localhost>',
    s3: s3Bucket
      ? {
          endpoint: url(env, 'S3_ENDPOINT'),
          bucket: s3Bucket,
          region: str(env, 'S3_REGION') ?? 'us-east-1',
          accessKeyId: str(env, 'S3_ACCESS_KEY_ID'),
          secretAccessKey: str(env, 'S3_SECRET_ACCESS_KEY'),
          forcePathStyle: (str(env, 'S3_FORCE_PATH_STYLE') ?? 'true') !== 'false',
        }
      : undefined,
    publicUrl: publicUrl.replace(/\/$/, ''),
    baseDomain: str(env, 'BASE_DOMAIN') ?? 'localhost',
    corsOrigins: list(env, 'CORS_ORIGINS'),
    adminEmail: str(env, 'GATEHOUSE_ADMIN_EMAIL'),
    adminPassword: env.GATEHOUSE_ADMIN_PASSWORD || undefined,
    secret: str(env, 'GATEHOUSE_SECRET'),
    serviceUrls: { auth: url(env, 'AUTH_URL'), users: url(env, 'USERS_URL'), audit: url(env, 'AUDIT_URL') },
    jwksUrl: url(env, 'JWKS_URL'),
    trustProxy: list(env, 'TRUST_PROXY'),
    tenantHeader: tenantHeader as Config['tenantHeader'],
    tokens: {
      issuer: str(env, 'TOKEN_ISSUER') ?? publicUrl.replace(/\/$/, ''),
      audience: str(env, 'TOKEN_AUDIENCE') ?? 'gatehouse',
      accessTtlSec: int(env, 'ACCESS_TOKEN_TTL_SEC', 900, 30),
      refreshIdleSec: int(env, 'REFRESH_IDLE_TTL_SEC', 14 * 24 * 3600, 60),
      refreshAbsoluteSec: int(env, 'REFRESH_ABSOLUTE_TTL_SEC', 30 * 24 * 3600, 60),
      algorithm: algorithm as Config['tokens']['algorithm'],
    },
    throttle: {
      accountMaxFailures: Math.min(int(env, 'THROTTLE_ACCOUNT_MAX_FAILURES', 10, 1), 100),
      accountLockSec: int(env, 'THROTTLE_ACCOUNT_LOCK_SEC', 900, 1),
      ipMaxFailures: int(env, 'THROTTLE_IP_MAX_FAILURES', 100, 1),
      ipWindowSec: int(env, 'THROTTLE_IP_WINDOW_SEC', 900, 1),
    },
    hashing: {
      // argon2 runs on worker threads, one per core (auth's passwords/argon2.pool.ts); the
      // queue's extra slots overlap a login's lookup with another's hashing
      concurrency: int(env, 'PASSWORD_HASH_CONCURRENCY', 4, 1),
      maxPending: int(env, 'PASSWORD_HASH_QUEUE', 64, 0),
      maxWaitMs: int(env, 'PASSWORD_HASH_MAX_WAIT_MS', 3000, 1),
    },
    rateLimits: {
      ip: limit(env, 'RATE_LIMIT_IP', 600, 60),
      user: limit(env, 'RATE_LIMIT_USER', 600, 60),
      credentials: limit(env, 'RATE_LIMIT_CREDENTIALS', 30, 60),
    },
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024),
    edge: edgeLimits(env),
    shutdownDrainMs: int(env, 'SHUTDOWN_DRAIN_SEC', 5, 0) * 1000,
    listenReusePort: bool(env, 'LISTEN_REUSE_PORT', false),
    metrics: { host: str(env, 'METRICS_HOST') ?? str(env, 'HOST') ?? '0.0.0.0', port: int(env, 'METRICS_PORT', 9464, 0) },
    grpc: { host: str(env, 'GRPC_HOST') ?? str(env, 'HOST') ?? '0.0.0.0', port: str(env, 'GRPC_PORT') === 'off' ? null : int(env, 'GRPC_PORT', 50051, 0) },
    qr: {
      tokenTtlSec: int(env, 'QR_TOKEN_TTL_SEC', 60, 5),
      checkInEarlyMinutes: int(env, 'CHECK_IN_EARLY_MINUTES', 30, 0),
    },
    purge: {
      intervalSec: int(env, 'PURGE_INTERVAL_SEC', 3600, 0),
      batchSize: Math.min(int(env, 'PURGE_BATCH_SIZE', 500, 1), 10_000),
      sessionsSec: int(env, 'PURGE_SESSIONS_AFTER_SEC', 7 * DAY, 0),
      oneTimeTokensSec: int(env, 'PURGE_ONE_TIME_TOKENS_AFTER_SEC', DAY, 0),
      outboxSec: int(env, 'PURGE_OUTBOX_AFTER_SEC', DAY, 0),
      // the JetStream stream keeps events 7 days (a consumer reset may replay them all): one more day
      inboxSec: int(env, 'PURGE_INBOX_AFTER_SEC', 8 * DAY, 0),
      webhookDeliveriesSec: int(env, 'PURGE_WEBHOOK_DELIVERIES_AFTER_SEC', 30 * DAY, 0),
    },
    webhooks: {
      allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', false),
      retryScale: decimal(env, 'WEBHOOK_RETRY_SCALE', 1),
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100),
      pollMs: int(env, 'WEBHOOK_POLL_MS', 1000, 10),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 16, 1),
      disableAfterFailures: int(env, 'WEBHOOK_DISABLE_AFTER_FAILURES', 100, 1),
      disableAfterSec: int(env, 'WEBHOOK_DISABLE_AFTER_SEC', DAY, 1),
    },
  };
}
