/**
 * The system view: every service's readiness, version and uptime as the gateway sees them
 * (their `/readyz`), and figures of the last hour from the gateway's own request histogram
 * (requests, 5xx answers, p99 latency per service it routes to, and its own). The history is
 * kept in memory: a snapshot of the histogram per minute, the last hour of them; a restarted
 * gateway starts a new hour.
 */
import type client from 'prom-client';
import { GATEHOUSE_VERSION, type Config } from '@gatehouse/platform';
import { PROXY_ROUTES } from '../proxy/proxy.service';
import { probeUpstream, UPSTREAMS } from './system.readiness';
import type { SystemResponse, SystemServiceView } from './system.schemas';

const HISTOGRAM = 'gatehouse_http_request_duration_seconds';
const MINUTE = 60_000;

/** Cumulative figures of one service at one moment. */
interface Totals {
  requests: number;
  errors: number;
  /** cumulative bucket counts by upper bound (seconds) */
  buckets: Map<number, number>;
}
type Snapshot = { at: number; totals: Map<string, Totals> };

/**
 * Which service a gateway route label belongs to: a forwarded route's label is its pattern
 * (`/api/v1/auth/*` → auth); the gateway's own routes (this view, docs, console) are its own.
 */
function serviceOfRoute(route: string): string {
  return PROXY_ROUTES.find((r) => r.url === route)?.area ?? 'gateway';
}

async function readTotals(registry: client.Registry): Promise<Map<string, Totals>> {
  const out = new Map<string, Totals>();
  const metric = registry.getSingleMetric(HISTOGRAM);
  if (!metric) return out;
  const data = await metric.get();
  for (const v of data.values) {
    const labels = v.labels as Record<string, string | number>;
    if (labels.service !== 'gateway') continue;
    const name = serviceOfRoute(String(labels.route ?? 'unmatched'));
    let t = out.get(name);
    if (!t) out.set(name, (t = { requests: 0, errors: 0, buckets: new Map() }));
    const metricName = (v as { metricName?: string }).metricName ?? '';
    if (metricName.endsWith('_count')) {
      t.requests += v.value;
      if (Number(labels.status) >= 500) t.errors += v.value;
    } else if (metricName.endsWith('_bucket')) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      t.buckets.set(le, (t.buckets.get(le) ?? 0) + v.value);
    }
  }
  return out;
}

const empty = (): Totals => ({ requests: 0, errors: 0, buckets: new Map() });

function diff(a: Totals, b: Totals | undefined): Totals {
  const base = b ?? empty();
  const buckets = new Map<number, number>();
  for (const [le, n] of a.buckets) buckets.set(le, n - (base.buckets.get(le) ?? 0));
  return { requests: a.requests - base.requests, errors: a.errors - base.errors, buckets };
}

/** The upper bound (ms) of the bucket holding the 99th percentile; null without requests. */
function p99Ms(t: Totals): number | null {
  if (t.requests <= 0) return null;
  const target = t.requests * 0.99;
  for (const le of [...t.buckets.keys()].sort((x, y) => x - y)) {
    if ((t.buckets.get(le) ?? 0) >= target) return Number.isFinite(le) ? Math.round(le * 1000 * 100) / 100 : null;
  }
  return null;
}

export interface SystemServiceDeps {
  serviceUrls: Config['serviceUrls'];
  registry: client.Registry;
  /** the gateway's own dependency checks (kv, transport) */
  ownChecks: Record<string, () => Promise<unknown>>;
  now?: () => number;
}

/** Creates the system view; `start()` begins the per-minute snapshots, `stop()` ends them. */
export function createSystemService(deps: SystemServiceDeps) {
  const now = deps.now ?? Date.now;
  const snapshots: Snapshot[] = [];
  let timer: NodeJS.Timeout | undefined;

  async function snapshot(): Promise<void> {
    snapshots.push({ at: now(), totals: await readTotals(deps.registry) });
    while (snapshots.length > 61) snapshots.shift();
  }

  function figures(name: string, current: Map<string, Totals>): SystemServiceView['figures'] {
    const series = [...snapshots.map((s) => ({ at: s.at, t: s.totals.get(name) ?? empty() })), { at: now(), t: current.get(name) ?? empty() }];
    const history = [];
    for (let i = 1; i < series.length; i++) {
      const d = diff(series[i]!.t, series[i - 1]!.t);
      history.push({ at: new Date(series[i - 1]!.at).toISOString(), requests: d.requests, errors: d.errors, p99Ms: p99Ms(d) });
    }
    const hour = diff(series[series.length - 1]!.t, snapshots.length > 0 ? series[0]!.t : undefined);
    return { requestsLastHour: hour.requests, errorsLastHour: hour.errors, p99MsLastHour: p99Ms(hour), history: history.slice(-60) };
  }

  async function gatewayChecks(): Promise<Record<string, string>> {
    const checks: Record<string, string> = {};
    for (const [name, check] of Object.entries(deps.ownChecks)) {
      try {
        await check();
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = err instanceof Error ? err.message.slice(0, 200) : 'unreachable';
      }
    }
    return checks;
  }

  return {
    async start() {
      if (timer) return;
      await snapshot();
      timer = setInterval(() => void snapshot().catch(() => {}), MINUTE);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },

    /** The view `GET /api/v1/admin/system` answers. */
    async view(): Promise<SystemResponse> {
      const [current, own, ...reports] = await Promise.all([
        readTotals(deps.registry),
        gatewayChecks(),
        ...UPSTREAMS.map((name) => probeUpstream(deps.serviceUrls[name], name)),
      ]);
      const services: SystemServiceView[] = [];
      const dependencies: SystemResponse['dependencies'] = [];
      const ownOk = Object.values(own).every((v) => v === 'ok');
      services.push({ name: 'gateway', status: ownOk ? 'ready' : 'degraded', version: GATEHOUSE_VERSION, uptimeSeconds: Math.round(process.uptime()), checks: own, figures: figures('gateway', current) });
      for (const [name, status] of Object.entries(own)) dependencies.push({ name, service: 'gateway', status: status === 'ok' ? 'up' : 'down', ...(status === 'ok' ? {} : { detail: status }) });
      UPSTREAMS.forEach((name, i) => {
        const r = reports[i]!;
        const checks = r.body?.checks ?? (r.error ? { reachable: r.error } : {});
        services.push({
          name,
          status: r.ok ? 'ready' : r.reachable ? 'degraded' : 'down',
          version: r.body?.version ?? null,
          uptimeSeconds: typeof r.body?.uptimeSeconds === 'number' ? r.body.uptimeSeconds : null,
          checks,
          figures: figures(name, current),
        });
        for (const [dep, status] of Object.entries(r.body?.checks ?? {})) {
          dependencies.push({ name: dep, service: name, status: status === 'ok' ? 'up' : 'down', ...(status === 'ok' ? {} : { detail: status }) });
        }
      });
      return { generatedAt: new Date(now()).toISOString(), services, dependencies };
    },

    /** Takes a snapshot now (tests: a minute passes without waiting for it). */
    snapshot,
  };
}
export type SystemService = ReturnType<typeof createSystemService>;
