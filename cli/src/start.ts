/**
 * `gatehouse start` (`npm start`): every service and the gateway in one process. Shared deps
 * are made once; each service listens on a loopback port of its own (port 0: the OS picks),
 * and the gateway, the only public port, forwards to them. With no configuration everything
 * is embedded (PGlite under DATA_DIR, in-memory limits, in-process events, dev mailbox);
 * DATABASE_URL, REDIS_URL, NATS_URL and SMTP_URL switch each part to the real server.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  closeSharedDeps,
  createLogger,
  createSharedDeps,
  loadConfig,
  startProcessMetrics,
  type MetricsServer,
  type Config,
  type HttpApp,
  type Logger,
  type RunningService,
  type SharedDeps,
} from '@gatehouse/platform';
import { shutdownTracing } from '@gatehouse/platform/tracing-sdk';
import { createAuthService } from '@gatehouse/auth/service';
import { createUsersService } from '@gatehouse/users/service';
import { createAuditService } from '@gatehouse/audit/service';
import { createGatewayService } from '@gatehouse/gateway/service';

const HELP = `Usage: gatehouse start [options]

Runs the gateway and every service in one process.

Options:
  -p, --port <port>     gateway port (default: PORT, else 3000)
      --host <address>  gateway address (default: HOST, else 0.0.0.0)
      --data-dir <dir>  where embedded data lives (default: DATA_DIR, else ./data)
  -h, --help            show this help

Everything else is configured through the environment (see README "Configuration").
`;

/** Listens on a free loopback port and returns the base URL. */
async function listenLoopback(app: HttpApp): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('service did not get a TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** A URL with any password removed, for printing. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(set)';
  }
}

/** One line per backing part: embedded or the real server. */
function describeMode(config: Config, shared: SharedDeps): string[] {
  return [
    config.databaseUrl ? `PostgreSQL ${redact(config.databaseUrl)}` : 'PGlite (embedded PostgreSQL)',
    shared.kv.kind === 'redis' ? `Redis ${redact(config.redisUrl ?? '')}` : 'in-memory limits and revocations',
    shared.transport.kind === 'nats' ? `NATS JetStream ${redact(config.natsUrl ?? '')}` : 'in-process events',
    config.smtpUrl ? `SMTP ${redact(config.smtpUrl)}` : 'dev mailbox (mail is stored, not sent)',
  ];
}

/** The address people open: PUBLIC_URL when set, else the local listening address. */
function localUrl(app: HttpApp, host: string): string {
  const address = app.server.address();
  const port = address && typeof address !== 'string' ? address.port : 0;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/** Runs until SIGTERM/SIGINT. */
export async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  // The entry point may read the environment; flags override it.
  const env: Record<string, string | undefined> = { ...process.env };
  if (values.port !== undefined) env.PORT = values.port;
  if (values.host !== undefined) env.HOST = values.host;
  if (values['data-dir'] !== undefined) env.DATA_DIR = values['data-dir'];
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel });

  const shared = await createSharedDeps(config, logger);
  const services: RunningService[] = [];
  let gateway: RunningService | undefined;
  let metrics: MetricsServer | undefined;

  async function closeAll(): Promise<void> {
    await metrics?.close();
    // Gateway first: stop taking requests, drain them; then the services; then shared deps.
    if (gateway) {
      await gateway.app.close().catch((err: unknown) => logger.error({ err }, 'gateway close failed'));
      await gateway.close().catch((err: unknown) => logger.error({ err }, 'gateway shutdown failed'));
    }
    for (const s of [...services].reverse()) {
      await s.app.close().catch((err: unknown) => logger.error({ err, service: s.name }, 'service close failed'));
      await s.close().catch((err: unknown) => logger.error({ err, service: s.name }, 'service shutdown failed'));
    }
    await closeSharedDeps(shared);
    await shutdownTracing();
  }

  try {
    // Services listen on loopback and only the gateway talks to them, so they trust its
    // X-Forwarded-For (the client address the gateway determined).
    const serviceConfig: Config = { ...config, trustProxy: [...new Set([...config.trustProxy, '127.0.0.1', '::1'])] };
    const auth = await createAuthService(serviceConfig, shared);
    services.push(auth);
    const urls: Config['serviceUrls'] = { auth: await listenLoopback(auth.app) };
    serviceConfig.serviceUrls = { ...urls };
    // In one process the other services verify tokens with auth's own key lookup, no HTTP hop.
    const jwks = auth.deps.keys.getKey;

    // ---- Services behind the gateway: add each new one here. --------------------------------
    const behindGateway: [keyof Config['serviceUrls'], () => Promise<RunningService>][] = [
      ['users', () => createUsersService(serviceConfig, shared, { jwks })],
      ['audit', () => createAuditService(serviceConfig, shared, { jwks })],
    ];
    // ---------------------------------------------------------------------------------------------
    for (const [area, create] of behindGateway) {
      const service = await create();
      services.push(service);
      urls[area] = await listenLoopback(service.app);
    }

    gateway = await createGatewayService({ ...config, serviceUrls: urls }, shared, { jwks });
    await gateway.app.listen({ host: config.host, port: config.port });
    // every service's metrics on one METRICS_PORT (they share one registry in this process)
    metrics = await startProcessMetrics(config, shared.registry, logger);
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }

  const startupMs = Math.round(performance.now());
  const url = localUrl(gateway.app, config.host);
  logger.info({ startupMs, url, services: Object.fromEntries(services.map((s) => [s.name, s.app.server.address()])) }, 'gatehouse ready');
  printBanner({ url, config, shared, startupMs });
  handleSignals(logger, closeAll);
}

function printBanner(o: { url: string; config: Config; shared: SharedDeps; startupMs: number }) {
  const { config } = o;
  const embeddedData = !config.databaseUrl || !config.s3 || !config.smtpUrl;
  const lines = [
    '',
    `  Gatehouse is running (ready in ${(o.startupMs / 1000).toFixed(1)} s)`,
    '',
    `  URL       ${o.url}`,
    `  API docs  ${o.url}/docs`,
  ];
  if (config.publicUrl !== o.url) lines.push(`  Public    ${config.publicUrl}`);
  const [first, ...rest] = describeMode(config, o.shared);
  lines.push(`  Mode      ${first}`, ...rest.map((l) => `            ${l}`));
  if (embeddedData) lines.push(`  Data      ${config.dataDir}`);
  if (config.adminEmail) lines.push(`  Admin     ${config.adminEmail} (default tenant)`);
  lines.push('', '  Ctrl+C stops it.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}

function handleSignals(logger: Logger, closeAll: () => Promise<void>) {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down: gateway, then services, then shared connections');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    closeAll().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
