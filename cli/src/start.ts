/**
 * `gatehouse start` (`npm start`): every service and the gateway in one process. Shared deps
 * are made once; each service listens on a loopback port of its own (port 0: the OS picks),
 * and the gateway, the only public port, forwards to them. With no configuration everything
 * is embedded (PGlite under DATA_DIR, in-memory limits, in-process events, dev mailbox);
 * DATABASE_URL, REDIS_URL, NATS_URL and SMTP_URL switch each part to the real server.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
// Only what starts the embedded database is imported before it starts (config, logger, the
// PGlite module); the rest of the platform loads while it starts, with the services.
import { loadConfig, type Config } from '@gatehouse/platform/config';
import { createLogger } from '@gatehouse/platform/logger';
import { warmEmbeddedDatabase } from '@gatehouse/platform/warm';
import type { HttpApp, InProcessSystem, SharedDeps } from '@gatehouse/platform';
import { shutdownTracing } from '@gatehouse/platform/tracing-sdk';
import type { GatewayOptions } from '@gatehouse/gateway';

const HELP = `Usage: gatehouse start [options]

Runs the gateway and every service in one process.

Options:
  -p, --port <port>     gateway port (default: PORT, else 3000)
      --host <address>  gateway address (default: HOST, else 0.0.0.0)
      --data-dir <dir>  where embedded data lives (default: DATA_DIR, else ./data)
  -h, --help            show this help

Everything else is configured through the environment (see README "Configuration").
`;

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

  // The embedded database starts while the services' code loads (both take seconds; the
  // services are imported here, not at the top, for that overlap).
  const warm = warmEmbeddedDatabase(config, ['auth', 'users', 'audit'], logger);
  warm.catch(() => {}); // a failure surfaces again when the services open the database
  const release = async () => (await warm.catch(() => undefined))?.();
  let shared: SharedDeps;
  let system: InProcessSystem;
  let platform: typeof import('@gatehouse/platform');
  try {
    let authService, usersService, auditService, gatewayService;
    [platform, { authService }, { usersService }, { auditService }, { gatewayService }] = await Promise.all([
      import('@gatehouse/platform'),
      import('@gatehouse/auth'),
      import('@gatehouse/users'),
      import('@gatehouse/audit'),
      import('@gatehouse/gateway'),
    ]);
    shared = await platform.createSharedDeps(config, logger);
    try {
      // auth first: the services behind it verify its tokens; add a new service to this list
      system = await platform.startInProcess({
        config,
        shared,
        services: [authService, usersService, auditService],
        gateway: gatewayService,
        // The services run in this process and cannot die without the gateway, so the race a
        // new connection per write closes (proxy.dispatcher.ts) does not exist here: writes keep
        // the kept-alive pool and skip a handshake each.
        options: { gateway: { writesOnNewConnection: false } satisfies GatewayOptions },
        listen: { host: config.host, port: config.port },
      });
    } catch (err) {
      await platform.closeSharedDeps(shared);
      throw err;
    }
  } finally {
    // the services hold their own references now (or failed): the instance lives as long as they do
    await release();
  }
  const gateway = system.gateway;
  const services = system.running().filter((s) => s.name !== 'gateway');
  // every service's metrics on one METRICS_PORT (they share one registry in this process)
  const { closeSharedDeps, runUntilSignal, startProcessMetrics } = platform;
  const metrics = await startProcessMetrics(config, shared.registry, logger);
  const closeAll = async () => {
    await metrics?.close();
    await system.close();
    await closeSharedDeps(shared);
    await shutdownTracing();
  };

  const startupMs = Math.round(performance.now());
  const url = localUrl(gateway.app, config.host);
  logger.info({ startupMs, url, services: Object.fromEntries(services.map((s) => [s.name, s.app.server.address()])) }, 'gatehouse ready');
  printBanner({ url, grpcUrl: system.grpc?.url, config, shared, startupMs });
  // until SIGTERM/SIGINT: gateway first (stop taking requests, drain), then the services, then shared connections
  await runUntilSignal({ listen: async () => url, logger, onClose: closeAll, drain: { apps: [gateway.app], delayMs: config.shutdownDrainMs } });
}

function printBanner(o: { url: string; grpcUrl?: string; config: Config; shared: SharedDeps; startupMs: number }) {
  const { config } = o;
  const embeddedData = !config.databaseUrl || !config.s3 || !config.smtpUrl;
  const lines = [
    '',
    `  Gatehouse is running (ready in ${(o.startupMs / 1000).toFixed(1)} s)`,
    '',
    `  URL       ${o.url}`,
    `  API docs  ${o.url}/docs`,
  ];
  if (o.grpcUrl) lines.push(`  gRPC      ${o.grpcUrl.replace(/^http:\/\//, '')} (internal; docs/grpc.md)`);
  if (config.publicUrl !== o.url) lines.push(`  Public    ${config.publicUrl}`);
  const [first, ...rest] = describeMode(config, o.shared);
  lines.push(`  Mode      ${first}`, ...rest.map((l) => `            ${l}`));
  if (embeddedData) lines.push(`  Data      ${config.dataDir}`);
  if (config.adminEmail) lines.push(`  Admin     ${config.adminEmail} (default tenant)`);
  lines.push('', '  Ctrl+C stops it.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
