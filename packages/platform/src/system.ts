/**
 * Several services in one process, each on a loopback port of its own, the gateway in front:
 * what `gatehouse start` runs and what the in-process test system runs. The one place that
 * wires services together: backing services first, in order (each sees the URLs of those
 * before it; auth's key lookup is handed to the rest, so they verify tokens without an HTTP
 * hop), then the gateway with every service's URL.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from './config';
import { listenOptions, type HttpApp } from './http';
import { delegatingRegistration, type GrpcServer } from './grpc';
import { startProcessGrpc, startService, type ServiceDefinition, type ServiceInstance, type ServiceName, type SharedDeps } from './service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list of different services: each has its own deps and options types
type AnyService = ServiceDefinition<any, any>;

export interface InProcessOptions {
  config: Config;
  shared: SharedDeps;
  /** the services behind the gateway, in start order (auth first: the others verify its tokens) */
  services: AnyService[];
  gateway: AnyService;
  /** per-service options for `create` (tests and embedders) */
  options?: Partial<Record<ServiceName, object>>;
  /** where the gateway listens (the services listen on 127.0.0.1, port chosen by the OS) */
  listen: { host: string; port: number };
}

export interface InProcessSystem {
  /** the gateway's base URL on its listening address */
  url: string;
  /** every service's gRPC API on GRPC_PORT (undefined: GRPC_PORT=off, or it could not be bound) */
  grpc?: GrpcServer;
  gateway: ServiceInstance;
  /** each running service's base URL (loopback) */
  urls: Partial<Record<ServiceName, string>>;
  /** a running service by name, undefined while stopped */
  service(name: ServiceName): ServiceInstance | undefined;
  /** every running service, in start order (the gateway last) */
  running(): ServiceInstance[];
  /** Closes one service (app, background work, database); the gateway keeps its URL. */
  stop(name: ServiceName): Promise<void>;
  /** Creates a stopped service again (same config and database) on the same port. */
  restart(name: ServiceName): Promise<void>;
  /** Gateway first (stop taking requests, drain), then the services in reverse order. */
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0: the OS picks) and returns the base URL. */
export async function listenOn(app: HttpApp, host = '127.0.0.1', port = 0, reusePort = false): Promise<string> {
  await app.listen(listenOptions(host, port, reusePort));
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the app did not get a TCP address');
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shown}:${address.port}`;
}

/** Starts every service and the gateway in this process; see the module comment. */
export async function startInProcess(o: InProcessOptions): Promise<InProcessSystem> {
  const { config, shared, logger } = { ...o, logger: o.shared.logger };
  // Services listen on loopback and only the gateway talks to them, so they trust its
  // X-Forwarded-For (the client address the gateway determined).
  const serviceConfig: Config = { ...config, trustProxy: [...new Set([...config.trustProxy, '127.0.0.1', '::1'])] };
  const urls: Partial<Record<ServiceName, string>> = {};
  const ports = new Map<ServiceName, number>();
  const configs = new Map<ServiceName, Config>();
  const running = new Map<ServiceName, ServiceInstance>();
  let gateway: ServiceInstance | undefined;
  let grpc: GrpcServer | undefined;

  async function closeOne(s: ServiceInstance): Promise<void> {
    await s.close().catch((err: unknown) => logger.error({ err, service: s.name }, 'service close failed'));
  }

  async function close(): Promise<void> {
    await grpc?.close().catch((err: unknown) => logger.error({ err }, 'gRPC server close failed'));
    grpc = undefined;
    if (gateway) await closeOne(gateway);
    gateway = undefined;
    for (const s of [...running.values()].reverse()) await closeOne(s);
    running.clear();
  }

  const create = (def: AnyService, cfg: Config) => startService(def, cfg, shared, o.options?.[def.name]);

  try {
    for (const def of o.services) {
      const cfg: Config = { ...serviceConfig, serviceUrls: { ...urls } as Config['serviceUrls'] };
      const s = await create(def, cfg);
      running.set(def.name, s);
      configs.set(def.name, cfg);
      urls[def.name] = await listenOn(s.app);
      ports.set(def.name, Number(new URL(urls[def.name]!).port));
      if (s.verificationKeys) shared.verificationKeys = s.verificationKeys;
    }
    gateway = await create(o.gateway, { ...config, serviceUrls: { ...urls } as Config['serviceUrls'] });
    const url = await listenOn(gateway.app, o.listen.host, o.listen.port, config.listenReusePort);
    // every service's gRPC API on one GRPC_PORT, each call handled by the service's running
    // instance (stop/restart replace it; stopped: UNAVAILABLE)
    const registrations = [...running.values()].flatMap((s) => (s.grpc ? [delegatingRegistration(s.grpc, () => running.get(s.name)?.grpc, s.name)] : []));
    grpc = await startProcessGrpc(config, shared, registrations, logger);
    const gw = gateway;
    return {
      url,
      grpc,
      gateway: gw,
      urls,
      service: (name) => (name === 'gateway' ? gateway : running.get(name)),
      running: () => [...running.values(), ...(gateway ? [gateway] : [])],
      async stop(name) {
        const s = running.get(name);
        if (!s) return;
        running.delete(name);
        await closeOne(s);
      },
      async restart(name) {
        if (running.has(name)) return;
        const def = o.services.find((d) => d.name === name);
        if (!def) throw new Error(`no service ${name} in this system`);
        const s = await create(def, configs.get(name)!);
        // The gateway knows this port; the address was released by the close (SO_REUSEADDR
        // lets it be bound again at once), so retry briefly only if something else took it.
        for (let attempt = 0; ; attempt++) {
          try {
            await listenOn(s.app, '127.0.0.1', ports.get(name));
            running.set(name, s);
            return;
          } catch (err) {
            if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 20) {
              await closeOne(s);
              throw err;
            }
            await sleep(100);
          }
        }
      },
      close,
    };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
