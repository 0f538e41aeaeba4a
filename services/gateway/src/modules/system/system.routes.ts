/**
 * `GET /api/v1/admin/system` (superadmin): the system view. The gateway answers it itself
 * (a static route wins over the `/api/v1/admin/*` forward to auth), from what it sees of each
 * service.
 */
import { errors, hasRole, type HttpApp } from '@gatehouse/platform';
import type { TenantResolver } from '../tenancy/tenancy.hooks';
import type { TokenGuard } from '../tokens/tokens.service';
import { SystemResponseSchema } from './system.schemas';
import type { SystemService } from './system.service';

export function systemRoutes(app: HttpApp, opts: { system: SystemService; tenantFor: TenantResolver; tokens: TokenGuard }) {
  app.get(
    '/api/v1/admin/system',
    {
      schema: {
        hide: true,
        tags: ['gateway'],
        summary: 'Every service: readiness, version, uptime and the last hour of requests, errors and p99 latency (superadmin)',
        response: { 200: SystemResponseSchema },
      },
      onRequest: async (req) => {
        const tenant = await opts.tenantFor(req);
        const claims = await opts.tokens.check(req, tenant);
        if (!claims) throw errors.invalidToken('An access token is required.');
        req.auth = claims;
        if (!hasRole(claims.roles, ['superadmin'])) throw errors.forbidden();
      },
    },
    async () => opts.system.view(),
  );
}
