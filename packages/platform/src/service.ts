/**
 * Process-level wiring shared by services: the dependencies one process holds once
 * (logger, limit store, event transport, revocation list, mailer, metrics registry) and the
 * listen/graceful-shutdown routine of every `main.ts`.
 */
import type client from 'prom-client';
import type { Logger } from 'pino';
import { loadConfig, type Config } from './config';
import { createLogger } from './logger';
import type { HttpApp } from './http';
import { createKvStore, type KvStore } from './kv';
import { createMemoryTransport, createNatsTransport, type EventTransport } from './events';
import { createRevocationList, type RevocationList } from './revocation';
import { createMailer, type Mailer } from './mail';
import { createMetricsRegistry, startMetricsServer, type MetricsServer } from './metrics';
import { instrumentTransport } from './events/instrument';
import { shutdownTracing } from './tracing-sdk';

export interface SharedDeps {
  logger: Logger;
  kv: KvStore;
  transport: EventTransport;
  revocations: RevocationList;
  mailer: Mailer;
  registry: client.Registry;
}

/** Creates the process-wide dependencies from config: Redis/NATS/SMTP when configured, embedded otherwise. */
export async function createSharedDeps(config: Config, logger: Logger): Promise<SharedDeps> {
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
export async function closeSharedDeps(d: SharedDeps): Promise<void> {
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

/** A service that has been built and can be listened on and closed. */
export interface RunningService {
  name: string;
  app: HttpApp;
  /** stop background work (relays, consumers) and close connections; the app is closed by the caller */
  close(): Promise<void>;
}

/**
 * Listens, then on SIGTERM/SIGINT: stops accepting, drains in-flight requests (Fastify close),
 * flushes background work, exits. A second signal exits at once.
 */
export async function runUntilSignal(opts: { app: HttpApp; host: string; port: number; logger: Logger; onClose: () => Promise<void> }): Promise<string> {
  const address = await opts.app.listen({ host: opts.host, port: opts.port });
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    opts.logger.info({ signal }, 'shutting down: draining requests');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    try {
      await opts.app.close();
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
export async function runStandalone(
  env: Record<string, string | undefined>,
  opts: { name: string; defaultPort: number; create: (config: Config, shared: SharedDeps) => Promise<RunningService> },
): Promise<void> {
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel, name: `gatehouse-${opts.name}` });
  try {
    const shared = await createSharedDeps(config, logger);
    const service = await opts.create(config, shared);
    const metrics = await startProcessMetrics(config, shared.registry, logger);
    // config.port falls back to the gateway's 3000; alone, each service has its own default
    const port = env.PORT ? config.port : opts.defaultPort;
    const address = await runUntilSignal({
      app: service.app,
      host: config.host,
      port,
      logger,
      onClose: async () => {
        await metrics?.close();
        await service.close();
        await closeSharedDeps(shared);
        await shutdownTracing();
      },
    });
    logger.info({ address }, `${opts.name} service listening`);
  } catch (err) {
    logger.fatal({ err }, `${opts.name} service failed to start`);
    process.exit(1);
  }
}
