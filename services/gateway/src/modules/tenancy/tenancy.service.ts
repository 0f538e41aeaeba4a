/**
 * Tenant resolution at the gateway (API.md "Tenant", docs/tenancy.md): which slug a request
 * names (subdomain, else `X-Tenant` where allowed, else `default`), and what that slug is
 * (the auth service's internal resolve endpoint, cached briefly in memory and dropped at once
 * when a `tenant.events.*` event arrives).
 */
import { Value } from 'typebox/value';
import type { Logger } from 'pino';
import { AppError, type Config } from '@gatehouse/platform';
import { tenancyErrors } from './tenancy.errors';
import { ResolvedTenantSchema, type Tenant } from './tenancy.schemas';

/** A DNS label: what a tenant slug may be. */
export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The slug of the tenant every deployment starts with. */
export const DEFAULT_SLUG = 'default';

/** Subdomains of BASE_DOMAIN that are the deployment itself, not a tenant. */
const RESERVED_LABELS = new Set(['www', 'api']);

/** True for hosts that only reach this machine: where `TENANT_HEADER=localhost` accepts X-Tenant. */
export function isLocalHost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]' || host === '::1';
}

/** Lower-cases a host name and drops the port and a trailing dot (`Acme.Example.test.:443` → `acme.example.test`). */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(0, end + 1) : h;
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** An origin as browsers send it: `scheme://host[:port]`, lower-case, no path; undefined when not one. */
export function normalizeOrigin(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value === '*') return '*';
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

export interface TenancyServiceOptions {
  /** base URL of the auth service; unset: no tenant can be resolved (503) */
  authUrl?: string;
  baseDomain: string;
  headerMode: Config['tenantHeader'];
  logger: Logger;
  /** how long a found tenant is trusted (default 5000 ms) */
  ttlMs?: number;
  /** how long "no such tenant" is trusted (default 2000 ms) */
  negativeTtlMs?: number;
  /** while auth cannot be reached, a found tenant this young is still used (default 60000 ms) */
  staleMs?: number;
  /** per lookup (default 2000 ms) */
  timeoutMs?: number;
  /** bound on cached slugs, so random slugs cannot grow memory without limit (default 10000) */
  maxEntries?: number;
}

interface Entry {
  /** when the entry was fetched (epoch ms) */
  at: number;
  tenant?: Tenant;
}

/** Creates the resolver; `slugFor` is synchronous, `resolve` asks auth on a cache miss. */
export function createTenancyService(opts: TenancyServiceOptions) {
  const baseDomain = normalizeHost(opts.baseDomain);
  const ttlMs = opts.ttlMs ?? 5000;
  const negativeTtlMs = opts.negativeTtlMs ?? 2000;
  const staleMs = opts.staleMs ?? 60_000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const cache = new Map<string, Entry>();
  // One lookup per slug at a time, however many requests wait for it.
  const inflight = new Map<string, Promise<Tenant | undefined>>();
  // Bumped by invalidate(): an answer fetched before a tenant change is not cached after it.
  let generation = 0;

  function headerAllowed(host: string): boolean {
    if (opts.headerMode === 'always') return true;
    if (opts.headerMode === 'never') return false;
    return isLocalHost(host);
  }

  function validSlug(value: string): string {
    const slug = value.trim().toLowerCase();
    if (!SLUG_RE.test(slug)) throw tenancyErrors.invalidTenant();
    return slug;
  }

  /**
   * The slug a request names. `host` is the request's host name (from Fastify, which honours
   * X-Forwarded-Host only from trusted proxies); `header` is the X-Tenant header value.
   * Throws `invalid_tenant` for a subdomain or header that is not a DNS label.
   */
  function slugFor(host: string, header: string | string[] | undefined): string {
    const h = normalizeHost(host);
    if (baseDomain && h.endsWith(`.${baseDomain}`)) {
      const label = h.slice(0, -(baseDomain.length + 1));
      if (!RESERVED_LABELS.has(label)) return validSlug(label);
    }
    // An X-Tenant header where it is not allowed is ignored, not refused: the request is
    // served as the default tenant, the same as if the header were absent.
    if (header !== undefined && headerAllowed(h)) {
      return validSlug(Array.isArray(header) ? header.join(',') : header);
    }
    return DEFAULT_SLUG;
  }

  async function fetchTenant(slug: string): Promise<Tenant | undefined> {
    if (!opts.authUrl) throw tenancyErrors.lookupUnavailable(new Error('AUTH_URL is not configured'));
    const url = `${opts.authUrl}/internal/tenants/resolve?slug=${encodeURIComponent(slug)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`tenant lookup answered ${res.status}`);
    }
    const body: unknown = await res.json();
    if (!Value.Check(ResolvedTenantSchema, body)) throw new Error('tenant lookup answered an unexpected body');
    const raw = body.settings?.allowedOrigins;
    const allowedOrigins = Array.isArray(raw)
      ? raw.map(normalizeOrigin).filter((o): o is string => o !== undefined && o !== '*')
      : [];
    return { id: body.id, slug: body.slug, name: body.name, status: body.status, allowedOrigins };
  }

  function remember(slug: string, entry: Entry) {
    cache.delete(slug);
    cache.set(slug, entry);
    if (cache.size > maxEntries) {
      // Map iteration is insertion order: the first key is the least recently stored.
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
  }

  function fresh(entry: Entry | undefined, now: number): boolean {
    return !!entry && now - entry.at < (entry.tenant ? ttlMs : negativeTtlMs);
  }

  async function lookup(slug: string): Promise<Tenant | undefined> {
    const now = Date.now();
    const entry = cache.get(slug);
    if (fresh(entry, now)) return entry!.tenant;
    let pending = inflight.get(slug);
    if (!pending) {
      const gen = generation;
      pending = fetchTenant(slug)
        .then((tenant) => {
          if (gen === generation) remember(slug, { at: Date.now(), tenant });
          return tenant;
        })
        .finally(() => inflight.delete(slug));
      inflight.set(slug, pending);
    }
    try {
      return await pending;
    } catch (err) {
      // Auth is unreachable: a tenant seen recently is still served (stale-if-error), so a
      // short auth outage does not take every tenant down with it. Invalidation clears the
      // cache, so a tenant disabled before the outage is not among these.
      if (entry?.tenant && now - entry.at < staleMs) {
        opts.logger.warn({ err, slug }, 'tenant lookup failed; serving the cached tenant');
        return entry.tenant;
      }
      if (err instanceof AppError) throw err;
      opts.logger.warn({ err, slug }, 'tenant lookup failed');
      throw tenancyErrors.lookupUnavailable(err);
    }
  }

  return {
    slugFor,

    /** The active tenant with this slug; throws `tenant_not_found` (unknown or disabled) or `service_unavailable`. */
    async resolve(slug: string): Promise<Tenant> {
      const tenant = await lookup(slug);
      if (!tenant || tenant.status !== 'active') throw tenancyErrors.tenantNotFound(slug);
      return tenant;
    },

    /** The cached tenant for a slug without asking auth (used where a lookup must not be triggered). */
    peek(slug: string): Tenant | undefined {
      const entry = cache.get(slug);
      return fresh(entry, Date.now()) && entry?.tenant?.status === 'active' ? entry.tenant : undefined;
    },

    /** Forget everything cached: called when a `tenant.events.*` event says a tenant changed. */
    invalidate(): void {
      generation += 1;
      cache.clear();
    },

    /** Number of cached slugs (for tests and metrics). */
    size(): number {
      return cache.size;
    },
  };
}
export type TenancyService = ReturnType<typeof createTenancyService>;
