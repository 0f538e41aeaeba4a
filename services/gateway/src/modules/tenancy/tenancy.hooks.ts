/**
 * Per-request tenant resolution, memoised so the CORS delegator and the proxy hooks share
 * one lookup. `req.tenant` is set by {@link tenantHook} for the routes that need a tenant.
 */
import type { FastifyRequest } from 'fastify';
import type { TenancyService } from './tenancy.service';
import type { Tenant } from './tenancy.schemas';

declare module 'fastify' {
  interface FastifyRequest {
    /** the resolved tenant, set on proxied `/api/v1/*` routes */
    tenant?: Tenant;
  }
}

/**
 * Returns `tenantFor(req)`: the request's tenant, looked up at most once per request; and
 * `tenantFor.cached(req)`: the active tenant from the cache without a promise, or undefined
 * (not cached, expired, inactive, an invalid slug: `tenantFor` answers those).
 */
export function createTenantResolver(tenancy: TenancyService) {
  const memo = new WeakMap<FastifyRequest, Promise<Tenant>>();
  const cached = (req: FastifyRequest): Tenant | undefined => {
    let slug: string;
    try {
      slug = tenancy.slugFor(req.hostname, req.headers['x-tenant']);
    } catch {
      return undefined;
    }
    return tenancy.peek(slug);
  };
  return Object.assign(tenantFor, { cached });

  function tenantFor(req: FastifyRequest): Promise<Tenant> {
    let p = memo.get(req);
    if (!p) {
      // slugFor throws synchronously on an invalid slug: keep that inside the promise.
      p = Promise.resolve().then(() => tenancy.resolve(tenancy.slugFor(req.hostname, req.headers['x-tenant'])));
      // The CORS delegator may create this promise and swallow its failure; the tenant hook
      // awaits it again and answers with the error. Mark it handled meanwhile.
      p.catch(() => {});
      memo.set(req, p);
    }
    return p;
  }
}
export type TenantResolver = ReturnType<typeof createTenantResolver>;

/** onRequest hook that resolves the tenant or answers 400 `invalid_tenant` / 404 `tenant_not_found` / 503. */
export function tenantHook(tenantFor: TenantResolver) {
  return async (req: FastifyRequest) => {
    req.tenant = await tenantFor(req);
  };
}
