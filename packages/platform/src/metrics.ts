/**
 * Prometheus metrics: the process registry, get-or-create helpers (all-in-one mode builds
 * every service on one registry, tests build many apps in one process), gauges read at scrape
 * time, and the metrics listener on METRICS_PORT, never on a public port.
 *
 * Every label holds a bounded set of values (a result, a method, a service or consumer name):
 * never a user, tenant, IP or id.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { Logger } from 'pino';

export type Registry = client.Registry;

/**
 * prom-client's default metrics, less the three gauges it names `*_total`
 * (`nodejs_active_{handles,requests,resources}_total`), which `promtool check metrics`
 * refuses (only counters end in `_total`). The same figures stay available, by type, as
 * `nodejs_active_handles`, `nodejs_active_requests` and `nodejs_active_resources`.
 */
export function createMetricsRegistry(): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  return registry;
}

/** The counter `name` on `registry`, created on first use. */
export function counter<L extends string = string>(registry: client.Registry, name: string, help: string, labelNames: readonly L[] = []): client.Counter<L> {
  return (
    (registry.getSingleMetric(name) as client.Counter<L> | undefined) ??
    new client.Counter<L>({ name, help, labelNames: labelNames as L[], registers: [registry] })
  );
}

/** The histogram `name` on `registry`, created on first use. */
export function histogram<L extends string = string>(
  registry: client.Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): client.Histogram<L> {
  return (
    (registry.getSingleMetric(name) as client.Histogram<L> | undefined) ??
    new client.Histogram<L>({ name, help, labelNames: labelNames as L[], buckets, registers: [registry] })
  );
}

type Reader = () => number | undefined | Promise<number | undefined>;
const readers = new WeakMap<client.Gauge<string>, Map<string, { labels: Record<string, string>; read: Reader }>>();

/**
 * A gauge whose values are read when Prometheus scrapes (a queue depth, a table's backlog):
 * `source(labels, read)` adds one series and returns its removal. A reader that throws or
 * returns undefined leaves its series out of that scrape.
 */
export function observedGauge<L extends string>(registry: client.Registry, name: string, help: string, labelNames: readonly L[]) {
  let gauge = registry.getSingleMetric(name) as client.Gauge<L> | undefined;
  if (!gauge) {
    const sources = new Map<string, { labels: Record<string, string>; read: Reader }>();
    gauge = new client.Gauge<L>({
      name,
      help,
      labelNames: labelNames as L[],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { labels, read } of sources.values()) {
          try {
            const v = await read();
            if (v !== undefined && Number.isFinite(v)) this.set(labels as Partial<Record<L, string>>, v);
          } catch {
            // an unreachable source is absent from this scrape; its own alerts say why
          }
        }
      },
    });
    readers.set(gauge as client.Gauge<string>, sources);
  }
  const sources = readers.get(gauge as client.Gauge<string>)!;
  return {
    source(labels: Record<L, string>, read: Reader): () => void {
      const key = JSON.stringify(labels);
      sources.set(key, { labels, read });
      return () => {
        sources.delete(key);
      };
    },
  };
}

/** The last value of one series in the registry (system view, tests); undefined when absent. */
export async function metricValue(registry: client.Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = registry.getSingleMetric(name);
  if (!m) return undefined;
  const data = await m.get();
  let sum: number | undefined;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum = (sum ?? 0) + v.value;
  }
  return sum;
}

/** A running metrics listener. */
export interface MetricsServer {
  /** `http://host:port` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` of `registry` on its own port (METRICS_PORT): operators scrape it
 * from inside the deployment, and the public port never exposes it. Everything else is 404.
 * Port 0 takes a free port (tests).
 */
export async function startMetricsServer(opts: { registry: client.Registry; host: string; port: number; logger?: Logger }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    opts.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
      (err: unknown) => {
        opts.logger?.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
