/**
 * The gateway's readiness of its upstreams: one check per service it routes to (auth, users,
 * audit), each asking the service's own `/readyz`, so the gateway is ready only when every
 * service behind it is (a load balancer then sends no traffic to a gateway whose services are
 * down). Kept apart from other readiness checks so each stays a small function of its own.
 */
import type { Config } from '@gatehouse/platform';

/** The areas the gateway routes to, in the order the system view lists them. */
export const UPSTREAMS = ['auth', 'users', 'audit'] as const;
export type Upstream = (typeof UPSTREAMS)[number];

/** What one upstream's /readyz said; `reachable: false` when it did not answer at all. */
export interface UpstreamReport {
  reachable: boolean;
  ok: boolean;
  body?: { status?: string; checks?: Record<string, string>; version?: string; uptimeSeconds?: number };
  error?: string;
}

/** Asks `${base}/readyz`; never throws. */
export async function probeUpstream(base: string | undefined, name: string, timeoutMs = 1500): Promise<UpstreamReport> {
  if (!base) return { reachable: false, ok: false, error: `${name.toUpperCase()}_URL is not configured` };
  try {
    const res = await fetch(`${base.replace(/\/$/, '')}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => undefined)) as UpstreamReport['body'];
    return { reachable: true, ok: res.status === 200, body, error: res.status === 200 ? undefined : `${name} answered ${res.status}` };
  } catch (err) {
    return { reachable: false, ok: false, error: `${name} unreachable: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200) };
  }
}

/** Readiness checks for `createHttpApp`: one per upstream, throwing when it is not ready. */
export function upstreamReadiness(serviceUrls: Config['serviceUrls']): Record<Upstream, () => Promise<void>> {
  const checks = {} as Record<Upstream, () => Promise<void>>;
  for (const name of UPSTREAMS) {
    checks[name] = async () => {
      const r = await probeUpstream(serviceUrls[name], name);
      if (!r.ok) throw new Error(r.error ?? `${name} is not ready`);
    };
  }
  return checks;
}
