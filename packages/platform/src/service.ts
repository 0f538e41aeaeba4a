/**
 * The one shape of a Gatehouse service, and the process-level wiring every service shares:
 * the dependencies one process holds once (logger, limit store, event transport, revocation
 * list, mailer, metrics registry), opening a service's database, resolving token-verification
 * keys, and the standalone runner behind every `main.ts`. `system.ts` runs several in one process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type client from 'prom-client';
import type { JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config';
import { assertDataDirWritable, embeddedDatabaseDir } from './datadir';
import { createDatabase, poolOptions, type Database } from './db';
import type { PlatformTables } from './schema';
import { createLogger } from './logger';
import { listenOptions, startDraining, stopAccepting, type HttpApp } from './http';
import { createKvStore, type KvStore } from './kv';
import { createMemoryTransport, createNatsTransport, type EventTransport } from './events';
import { createRevocationList, type RevocationList } from './revocation';
import { createMailer, type Mailer } from './mail';
import { createMetricsRegistry, startMetricsServer, type MetricsServer } from './metrics';
import { instrumentTransport } from './events/instrument';
import { shutdownTracing } from './tracing-sdk';
import { createGrpcAuthenticator, startGrpcServer, type GrpcRegistration, type GrpcServer } from './grpc';

export interface SharedDeps {
  logger: Logger;
  kv: KvStore;
  transport: EventTransport;
  revocations: RevocationList;
  mailer: Mailer;
  registry: client.Registry;
  /**
   * Token-verification keys when the auth service runs in this process (its own key lookup,
   * no HTTP hop); unset, services fetch the JWKS (see {@link verificationKeys}).
   */
  verificationKeys?: JWTVerifyGetKey;
}

/** Creates the process-wide dependencies from config: Redis/NATS/SMTP when configured, embedded otherwise. */
export async function createSharedDeps(config: Config, logger: Logger): Promise<SharedDeps> {
  assertDataDirWritable(config);
  const registry = createMetricsRegistry();
  const kv = createKvStore({ url: config.redisUrl, logger });
  const transport = instrumentTransport(
    config.natsUrl
      ? await createNatsTransport({ url: config.natsUrl, logger, stream: config.natsStream, subjectPrefix: config.natsSubjectPrefix })
      : createMemoryTransport({ logger }),
    registry,
  );
  const revocations = createRevocationList({ kv, logger, registry });
  await revocations.start();
  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, logger, dataDir: config.dataDir });
  return { logger, kv, transport, revocations, mailer, registry };
}

/** Closes what {@link createSharedDeps} opened. */
export async function closeSharedDeps(d: Pick<SharedDeps, 'revocations' | 'transport' | 'mailer' | 'kv'>): Promise<void> {
  await d.revocations.stop().catch(() => {});
  await d.transport.close().catch(() => {});
  await d.mailer.close().catch(() => {});
  await d.kv.close().catch(() => {});
}

/**
 * Serves the process's metrics on METRICS_PORT. A port that cannot be bound is logged and
 * the process goes on without metrics: the identity service matters more than its scrape.
 */
export async function startProcessMetrics(config: Config, registry: client.Registry, logger: Logger): Promise<MetricsServer | undefined> {
  try {
    const server = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port, logger });
    logger.info({ url: `${server.url}/metrics` }, 'metrics listening');
    return server;
  } catch (err) {
    logger.error({ err, port: config.metrics.port }, 'metrics port could not be bound; running without /metrics');
    return undefined;
  }
}

/** The names of Gatehouse's services. */
export type ServiceName = 'gateway' | 'auth' | 'users' | 'audit';
/** The services that own a database (each in a schema of its own). */
export type DataServiceName = Exclude<ServiceName, 'gateway'>;

/** A service built by its {@link ServiceDefinition.create}: not listening, background work not started. */
export interface ServiceInstance<D = unknown> {
  name: ServiceName;
  /** the Fastify app, not listening (tests use `app.inject`; runners listen) */
  app: HttpApp;
  /** everything the service wired (its database, relay, feature services), for tests and tools */
  deps: D;
  /** the service's token-verification key lookup, when it holds the signing keys (auth) */
  verificationKeys?: JWTVerifyGetKey;
  /** the service's internal gRPC API (docs/grpc.md), served on GRPC_PORT by the process */
  grpc?: GrpcRegistration;
  /** Starts the background work (outbox relay, consumers, sweepers). */
  start(): Promise<void>;
  /** Closes the app (draining requests), stops the background work, closes what `create` opened. */
  close(): Promise<void>;
}

/**
 * What every service package exports (its `.` entry point): its name, database schema and
 * migrations (none for the gateway), its port when run alone, and how to build it. The
 * all-in-one starter, the per-service mains, the CLI and the tests all build services through it.
 */
export interface ServiceDefinition<D = unknown, O = object, S extends Partial<SharedDeps> = SharedDeps> {
  name: ServiceName;
  /** PostgreSQL schema of the service's tables (undefined: no database) */
  schema?: string;
  /** the service's numbered .sql migrations */
  migrationsDir?: string;
  /** the port it listens on when run alone and PORT is unset */
  defaultPort: number;
  /** Opens and migrates its database, wires it, builds the app. Options are for tests and embedders. */
  create(config: Config, shared: S, options?: O): Promise<ServiceInstance<D>>;
}

/** `create` then `start`: a service built and running, not listening (when starting fails, it is closed again). */
export async function startService<D, O, S extends Partial<SharedDeps>>(service: ServiceDefinition<D, O, S>, config: Config, shared: S, options?: O): Promise<ServiceInstance<D>> {
  const instance = await service.create(config, shared, options);
  await buildOrClose(() => instance.start(), () => instance.close());
  return instance;
}

/** Builds the app, or when that fails closes what was opened and rethrows. */
export async function buildOrClose<T>(build: () => Promise<T>, close: () => Promise<unknown>): Promise<T> {
  try {
    return await build();
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}

/**
 * The instance most services are: deps whose `start`/`close` run and stop the background work,
 * an app built over them, and what `create` opened before (`release`: the database) closed
 * last. When building fails, what was built is closed again.
 */
export async function assembleService<D extends { start(): Promise<void>; close(): Promise<void> }>(o: {
  name: ServiceName;
  deps: () => D;
  app: (deps: D) => Promise<HttpApp>;
  release: () => Promise<void>;
  /** the service's internal gRPC API over the deps */
  grpc?: (deps: D) => GrpcRegistration;
}): Promise<ServiceInstance<D>> {
  let built: D | undefined;
  return buildOrClose(
    async () => {
      const deps = o.deps();
      built = deps;
      const app = await o.app(deps);
      return {
        name: o.name,
        app,
        deps,
        ...(o.grpc ? { grpc: o.grpc(deps) } : {}),
        start: () => deps.start(),
        async close() {
          await app.close();
          await deps.close();
          await o.release();
        },
      };
    },
    async () => {
      await built?.close();
      await o.release();
    },
  );
}


/**
 * Opens a service's database: `<SERVICE>_DATABASE_URL`, else `DATABASE_URL` (in the service's
 * schema), else the process's one PGlite under `<DATA_DIR>/pglite` (or, in a data directory of
 * the earlier layout, the service's own `<DATA_DIR>/<service>`). With `migrate` (the default), applies its
 * pending migrations first, under the advisory lock, so replicas starting together take turns.
 */
export async function openServiceDatabase<DB extends PlatformTables = PlatformTables>(
  config: Config,
  service: { name: ServiceName; schema?: string; migrationsDir?: string },
  opts: { logger: Logger; migrate?: boolean; poolSize?: number },
): Promise<{ db: Database<DB>; applied: string[] }> {
  if (!service.schema || service.name === 'gateway') throw new Error(`${service.name} has no database schema`);
  const url = config.serviceDatabaseUrls[service.name] ?? config.databaseUrl;
  const embedded = url ? undefined : embeddedDatabaseDir(config.dataDir, service.name);
  if (embedded?.legacy) {
    opts.logger.warn(
      { service: service.name, dir: embedded.dir },
      'embedded database in the earlier layout (one PGlite per service): kept as it is; see docs/embedded.md to move it into the one shared database',
    );
  }
  const db = await createDatabase<DB>({
    url,
    dataDir: embedded?.dir,
    schema: service.schema,
    logger: opts.logger,
    ...poolOptions(config),
    ...(opts.poolSize ? { poolSize: opts.poolSize } : {}),
  });
  try {
    const applied = opts.migrate !== false && service.migrationsDir ? await db.migrate(service.migrationsDir) : [];
    return { db, applied };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

export { warmEmbeddedDatabase } from './warm';

/**
 * How a service gets the keys that verify access tokens: the auth service's own lookup when it
 * runs in this process, else JWKS_URL, else AUTH_URL's `/.well-known/jwks.json`. Without any,
 * `required` services fail to start; the gateway starts and refuses tokens (readiness says why).
 */
export function verificationKeys(config: Config, shared: Pick<SharedDeps, 'verificationKeys'>, opts: { service: ServiceName; required: boolean }): URL | JWTVerifyGetKey {
  if (shared.verificationKeys) return shared.verificationKeys;
  const authUrl = config.serviceUrls.auth?.replace(/\/$/, '');
  const jwksUrl = config.jwksUrl ?? (authUrl ? `${authUrl}/.well-known/jwks.json` : undefined);
  if (jwksUrl) return new URL(jwksUrl);
  if (opts.required) throw new ConfigError(`JWKS_URL (or AUTH_URL) is required for the ${opts.service} service to verify access tokens`);
  return async () => {
    throw new Error('AUTH_URL is not configured');
  };
}

/**
 * Serves the gRPC registrations of a process's services on GRPC_PORT (docs/grpc.md), callers
 * checked against the token-verification keys. Unset (`GRPC_PORT=off`) or nothing to serve:
 * undefined. A port that cannot be bound is logged and the process goes on without gRPC, like
 * metrics: the HTTP API matters more.
 */
export async function startProcessGrpc(
  config: Config,
  shared: Pick<SharedDeps, 'verificationKeys' | 'revocations'>,
  registrations: GrpcRegistration[],
  logger: Logger,
): Promise<GrpcServer | undefined> {
  if (config.grpc.port === null || registrations.length === 0) return undefined;
  const authenticator = createGrpcAuthenticator({ keys: verificationKeys(config, shared, { service: 'gateway', required: false }), revocations: shared.revocations });
  try {
    const server = await startGrpcServer({ host: config.grpc.host, port: config.grpc.port, registrations, authenticator, logger });
    logger.info({ url: server.url, services: registrations.flatMap((r) => r.services.map((d) => d.desc.typeName)) }, 'gRPC listening');
    return server;
  } catch (err) {
    logger.error({ err, port: config.grpc.port }, 'GRPC_PORT could not be bound; running without gRPC');
    return undefined;
  }
}

/**
 * Listens, then on SIGTERM/SIGINT runs `onClose` (which drains in-flight requests and flushes
 * background work), then exits. A second signal exits at once.
 *
 * On SIGTERM (an orchestrator or an operator stopping a replica) the public apps first drain
 * for `drainDelayMs` (SHUTDOWN_DRAIN_SEC) while still serving: readiness answers 503 and every
 * answer carries `Connection: close` ({@link startDraining}), so load balancers stop choosing
 * this replica and clients give up their kept-alive connections one complete answer at a time.
 * Only then does it stop accepting connections ({@link stopAccepting}: the listener closes, and the
 * connections accepted during the drain carry their requests before anything is closed), and
 * `onClose` closes the idle ones and waits for the requests in progress; a client whose
 * own keep-alive timeout is shorter than the delay (nginx's upstream `keepalive_timeout`, the
 * gateway's pool) holds no idle connection by then, so none is cut under a request. SIGINT
 * (Ctrl-C at a terminal) skips the delay.
 */
export async function runUntilSignal(opts: {
  listen: () => Promise<string>;
  logger: Logger;
  onClose: () => Promise<void>;
  /** the apps that drain before `onClose` (those clients reach) and for how long */
  drain?: { apps: HttpApp[]; delayMs: number };
}): Promise<string> {
  const address = await opts.listen();
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    const delayMs = signal === 'SIGTERM' ? (opts.drain?.delayMs ?? 0) : 0;
    opts.logger.info({ signal, drainDelayMs: delayMs }, 'shutting down: draining requests');
    const force = setTimeout(() => {
      opts.logger.error(`shutdown took longer than ${(delayMs + 15_000) / 1000} s; exiting`);
      process.exit(1);
    }, delayMs + 15_000);
    force.unref();
    try {
      for (const app of opts.drain?.apps ?? []) startDraining(app);
      if (delayMs > 0) await sleep(delayMs);
      await Promise.all((opts.drain?.apps ?? []).map((app) => stopAccepting(app)));
      await opts.onClose();
      process.exit(0);
    } catch (err) {
      opts.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return address;
}

/**
 * The whole `main.ts` of a service run alone: config from the environment, shared deps,
 * the service, listen on PORT (else the service's own default port), graceful shutdown.
 * A start-up failure is logged and exits 1.
 */
export async function runStandalone<D, O>(env: Record<string, string | undefined>, service: ServiceDefinition<D, O>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    exitOnConfigError(service.name, err);
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, name: `gatehouse-${service.name}` });
  try {
    const shared = await createSharedDeps(config, logger);
    const instance = await startService(service, config, shared);
    const metrics = await startProcessMetrics(config, shared.registry, logger);
    const grpc = await startProcessGrpc(config, shared, instance.grpc ? [instance.grpc] : [], logger);
    // config.port falls back to the gateway's 3000; alone, each service has its own default
    const port = env.PORT ? config.port : service.defaultPort;
    const address = await runUntilSignal({
      listen: () => instance.app.listen(listenOptions(config.host, port, config.listenReusePort)),
      logger,
      drain: { apps: [instance.app], delayMs: config.shutdownDrainMs },
      onClose: async () => {
        await metrics?.close();
        await grpc?.close();
        await instance.close();
        await closeSharedDeps(shared);
        await shutdownTracing();
      },
    });
    logger.info({ address }, `${service.name} service listening`);
  } catch (err) {
    exitOnConfigError(service.name, err);
    logger.fatal({ err }, `${service.name} service failed to start`);
    process.exit(1);
  }
}

/** A configuration problem is the operator's to fix: one line on stderr, no stack trace, exit 1. */
function exitOnConfigError(name: string, err: unknown): void {
  if (!(err instanceof ConfigError)) return;
  process.stderr.write(`gatehouse-${name}: ${err.message}\n`);
  process.exit(1);
}
