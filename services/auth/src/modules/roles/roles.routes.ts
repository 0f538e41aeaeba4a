/** `/api/v1/admin/roles`: a tenant's custom roles (role `admin`). */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { RoleService } from './roles.service';
import { RoleCreateSchema, RoleListSchema, RoleParamsSchema, RolePatchSchema, RoleSchema } from './roles.schemas';

const P = '/api/v1/admin/roles';
const tags = ['admin'];
const errorsOf = problems(400, 401, 403, 404);
const effect =
  'Holders\' access tokens are cut within a second; their next refresh carries the new `roles` and `permissions` (the union over the user\'s roles).';

/** Registers the role routes. */
export function registerRoleRoutes(app: HttpApp, { roles, verifier }: { roles: RoleService; verifier: TokenVerifier }) {
  const requireAdmin = authenticate(verifier, ['admin']);

  app.get(
    P,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'The tenant\'s roles, built-in ones first', security: bearerSecurity, response: { 200: RoleListSchema, ...errorsOf } },
    },
    async (req) => roles.list(req.auth!.tid),
  );

  app.post(
    P,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Define a custom role',
        description: '409 `role_exists` when the tenant has a role of this name (built-in names included).',
        security: bearerSecurity,
        body: RoleCreateSchema,
        response: { 201: RoleSchema, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await roles.create(req.auth!, req.body, requestContext(req))),
  );

  app.patch(
    `${P}/:name`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Change a custom role\'s description or permissions',
        description: `409 \`role_builtin\` for user, organizer, admin, superadmin. ${effect}`,
        security: bearerSecurity,
        params: RoleParamsSchema,
        body: RolePatchSchema,
        response: { 200: RoleSchema, ...errorsOf, ...problems(409) },
      },
    },
    async (req) => roles.update(req.auth!, req.params.name, req.body, requestContext(req)),
  );

  app.delete(
    `${P}/:name`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Delete a custom role (taken from every user holding it)',
        description: `409 \`role_builtin\` for user, organizer, admin, superadmin. ${effect}`,
        security: bearerSecurity,
        params: RoleParamsSchema,
        response: { 204: Type.Null(), ...errorsOf, ...problems(409) },
      },
    },
    async (req, reply) => {
      await roles.remove(req.auth!, req.params.name, requestContext(req));
      return reply.code(204).send(null);
    },
  );
}
