/**
 * Tenant routes: the superadmin API `/api/v1/admin/tenants` and the gateway's internal
 * `GET /internal/tenants/resolve?slug=…|id=…` (hidden from OpenAPI; the gateway never proxies
 * `/internal/*` from the public).
 */
import type { FastifyRequest } from 'fastify';
import { bearerSecurity, DEFAULT_TENANT_ID, problems, ProblemSchema } from '@gatehouse/contracts';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import type { HttpApp } from '@gatehouse/platform/http';
import { requestContext } from '../../context';
import type { TenantAdmin, TenantActor } from './tenants.admin';
import { tenantErrors } from './tenants.errors';
import {
  OwnTenantPatchSchema,
  ResolveQuerySchema,
  TenantCreatedSchema,
  TenantCreateSchema,
  TenantListQuerySchema,
  TenantListSchema,
  TenantParamsSchema,
  TenantPatchSchema,
  TenantSchema,
} from './tenants.schemas';
import type { TenantService } from './tenants.service';

const P = '/api/v1/admin/tenants';
const tags = ['admin'];
const errorsOf = problems(400, 401, 403, 404);

export interface TenantRouteDeps {
  tenants: TenantService;
  tenantAdmin: TenantAdmin;
  verifier: TokenVerifier;
}

function actor(req: FastifyRequest): TenantActor {
  return { userId: req.auth!.sub, ctx: requestContext(req) };
}

/** Registers the tenant routes. */
export function registerTenantRoutes(app: HttpApp, { tenants, tenantAdmin, verifier }: TenantRouteDeps) {
  const requireSuperadmin = authenticate(verifier, ['superadmin']);
  // A superadmin role in a customer tenant (granted by hand, say) must not reach every other
  // tenant: tenant management belongs to the operator's tenant, where GATEHOUSE_ADMIN_* lives.
  const guard = [
    requireSuperadmin,
    async (req: FastifyRequest) => {
      if (req.auth!.tid !== DEFAULT_TENANT_ID) throw tenantErrors.superadminOnly();
    },
  ];

  app.get(
    P,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'List tenants (superadmin)',
        description: 'Oldest first, cursor-paginated; filter by status and by a substring of the slug or name.',
        security: bearerSecurity,
        querystring: TenantListQuerySchema,
        response: { 200: TenantListSchema, ...errorsOf },
      },
    },
    async (req) => tenantAdmin.list(req.query),
  );

  app.post(
    P,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Create a tenant (superadmin)',
        description:
          'The slug is a DNS label (the tenant is reached at `<slug>.<BASE_DOMAIN>`), lower-cased, never changed later; reserved names are refused (400 `reserved_slug`). ' +
          'Settings are validated (unknown keys refused). With `admin`, the tenant\'s first admin is created in the same transaction. Emits `tenant.events.created`.',
        security: bearerSecurity,
        body: TenantCreateSchema,
        response: { 201: TenantCreatedSchema, ...errorsOf, 409: ProblemSchema },
      },
    },
    async (req, reply) => reply.code(201).send(await tenantAdmin.create(actor(req), req.body)),
  );

  app.get(
    `${P}/:id`,
    {
      preHandler: guard,
      schema: { tags, summary: 'One tenant (superadmin)', security: bearerSecurity, params: TenantParamsSchema, response: { 200: TenantSchema, ...errorsOf } },
    },
    async (req) => tenantAdmin.get({ id: req.params.id }),
  );

  app.patch(
    `${P}/:id`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Rename, enable/disable, change settings (superadmin)',
        description:
          'Settings are merged (RFC 7396): given fields replace, `null` resets one to its default, absent ones stay. ' +
          'Disabling revokes every session of the tenant and makes its access tokens fail everywhere within a second; its users cannot sign in until it is enabled again. ' +
          'The default tenant cannot be disabled (409 `default_tenant`). Emits `tenant.events.updated` when something changed.',
        security: bearerSecurity,
        params: TenantParamsSchema,
        body: TenantPatchSchema,
        response: { 200: TenantSchema, ...errorsOf, 409: ProblemSchema },
      },
    },
    async (req) => tenantAdmin.update(actor(req), req.params.id, req.body),
  );

  // The caller's own tenant, for its admins (any tenant; superadmins of the default tenant
  // manage the others through /tenants above).
  const requireAdmin = authenticate(verifier, ['admin']);
  app.get(
    '/api/v1/admin/tenant',
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'The caller\'s own tenant and its settings (admin)', security: bearerSecurity, response: { 200: TenantSchema, ...problems(401, 403, 404) } },
    },
    async (req) => tenantAdmin.get({ id: req.auth!.tid }),
  );

  app.patch(
    '/api/v1/admin/tenant',
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Rename the caller\'s own tenant or change its settings (admin)',
        description:
          'Settings are merged (RFC 7396) as in `PATCH /tenants/{id}`: given fields replace, `null` resets one to its default. The status is for superadmins. Emits `tenant.events.updated` when something changed.',
        security: bearerSecurity,
        body: OwnTenantPatchSchema,
        response: { 200: TenantSchema, ...errorsOf },
      },
    },
    async (req) => tenantAdmin.update(actor(req), req.auth!.tid, req.body),
  );

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
