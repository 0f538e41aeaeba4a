/** `/api/v1/admin/users`: user management for a tenant's admins. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems, ProblemSchema, UserSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { MfaService } from '../mfa/mfa.service';
import type { AdminUserService } from './admin-users.service';
import { AdminUserListQuerySchema, AdminUserListSchema, AdminUserParamsSchema, AdminUserPatchSchema } from './admin-users.schemas';

const P = '/api/v1/admin/users';
const tags = ['admin'];
const errorsOf = problems(400, 401, 403, 404);

/** Registers the admin user routes (role `admin`). */
export function registerAdminUserRoutes(app: HttpApp, { admin, mfa, verifier }: { admin: AdminUserService; mfa: MfaService; verifier: TokenVerifier }) {
  const requireAdmin = authenticate(verifier, ['admin']);

  app.get(
    P,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'Search the tenant\'s users', security: bearerSecurity, querystring: AdminUserListQuerySchema, response: { 200: AdminUserListSchema, ...errorsOf } },
    },
    async (req) => admin.list(req.auth!.tid, req.query),
  );

  app.get(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'One user', security: bearerSecurity, params: AdminUserParamsSchema, response: { 200: UserSchema, ...errorsOf } },
    },
    async (req) => admin.get(req.auth!.tid, req.params.id),
  );

  app.patch(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Disable/enable, set roles, mark the email verified',
        description: 'Disabling revokes every session at once. New roles reach access tokens at the next refresh.',
        security: bearerSecurity,
        params: AdminUserParamsSchema,
        body: AdminUserPatchSchema,
        response: { 200: UserSchema, ...errorsOf, 409: ProblemSchema },
      },
    },
    async (req) => admin.patch(req.auth!, req.params.id, req.body, requestContext(req)),
  );

  app.delete(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'Delete a user (revokes its sessions)', security: bearerSecurity, params: AdminUserParamsSchema, response: { 204: Type.Null(), ...errorsOf, 409: ProblemSchema } },
    },
    async (req, reply) => {
      await admin.remove(req.auth!, req.params.id, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${P}/:id/sessions/revoke`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Revoke every session of a user',
        security: bearerSecurity,
        params: AdminUserParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 204: Type.Null(), ...errorsOf },
      },
    },
    async (req, reply) => {
      await admin.revokeSessions(req.auth!, req.params.id, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${P}/:id/mfa/reset`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Remove a user\'s TOTP secret and backup codes (lost device)',
        description: 'The next password login of the user signs in without a second factor (or asks to enroll one when the tenant requires MFA). Passkeys stay.',
        security: bearerSecurity,
        params: AdminUserParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 204: Type.Null(), ...errorsOf },
      },
    },
    async (req, reply) => {
      await mfa.adminReset(req.auth!, req.params.id, requestContext(req));
      return reply.code(204).send(null);
    },
  );
}
