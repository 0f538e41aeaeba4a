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
  rateLimits: {
    /** per client IP, every route */
    ip: RateLimitSetting;
    /** per authenticated user */
    user: RateLimitSetting;
    /** per client IP on credential endpoints (login, register, password, mfa) */
    credentials: RateLimitSetting;
  };
  bodyLimitBytes: number;
  /** Prometheus `/metrics` listener, never the public port (METRICS_PORT, default 9464; 0: a free port) */
  metrics: { host: string; port: number };
  qr: { tokenTtlSec: number; checkInEarlyMinutes: number };
}

type Env = Record<string, string | undefined>;

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
    rateLimits: {
      ip: limit(env, 'RATE_LIMIT_IP', 600, 60),
      user: limit(env, 'RATE_LIMIT_USER', 600, 60),
      credentials: limit(env, 'RATE_LIMIT_CREDENTIALS', 30, 60),
    },
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024),
    metrics: { host: str(env, 'METRICS_HOST') ?? str(env, 'HOST') ?? '0.0.0.0', port: int(env, 'METRICS_PORT', 9464, 0) },
    qr: {
      tokenTtlSec: int(env, 'QR_TOKEN_TTL_SEC', 60, 5),
      checkInEarlyMinutes: int(env, 'CHECK_IN_EARLY_MINUTES', 30, 0),
    },
  };
}
