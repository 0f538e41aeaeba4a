/**
 * Internal tenant resolution for the gateway: `GET /internal/tenants/resolve?slug=…|id=…`.
 * Hidden from OpenAPI; the gateway never proxies `/internal/*` from the public.
 */
import type { HttpApp } from '@gatehouse/platform/http';
import { ProblemSchema } from '@gatehouse/contracts';
import type { TenantService } from './tenants.service';
import { ResolveQuerySchema, TenantSchema } from './tenants.schemas';
import { tenantErrors } from './tenants.errors';

/** Registers the internal tenant routes. */
export function registerTenantRoutes(app: HttpApp, { tenants }: { tenants: TenantService }) {
  app.get(
    '/internal/tenants/resolve',
    {
      schema: {
        hide: true,
        querystring: ResolveQuerySchema,
        response: { 200: TenantSchema, 400: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (req) => {
      const { slug, id } = req.query;
      if ((slug === undefined) === (id === undefined)) throw tenantErrors.badQuery();
      const t = await tenants.resolve({ slug, id });
      if (!t) throw tenantErrors.notFound();
      return t;
    },
  );
}
