/** `/api/v1/admin/users`: user management for a tenant's admins. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { ProblemSchema, UserSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { MfaService } from '../mfa/mfa.service';
import type { AdminUserService } from './admin-users.service';
import { AdminUserListQuerySchema, AdminUserListSchema, AdminUserParamsSchema, AdminUserPatchSchema } from './admin-users.schemas';

const P = '/api/v1/admin/users';
const tags = ['admin'];
const security = [{ bearerAuth: [] }];
const errorsOf = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema };

/** Registers the admin user routes (role `admin`). */
export function registerAdminUserRoutes(app: HttpApp, { admin, mfa, verifier }: { admin: AdminUserService; mfa: MfaService; verifier: TokenVerifier }) {
  const requireAdmin = authenticate(verifier, ['admin']);

  app.get(
    P,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'Search the tenant\'s users', security, querystring: AdminUserListQuerySchema, response: { 200: AdminUserListSchema, ...errorsOf } },
    },
    async (req) => admin.list(req.auth!.tid, req.query),
  );

  app.get(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: { tags, summary: 'One user', security, params: AdminUserParamsSchema, response: { 200: UserSchema, ...errorsOf } },
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
        security,
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
      schema: { tags, summary: 'Delete a user (revokes its sessions)', security, params: AdminUserParamsSchema, response: { 204: Type.Null(), ...errorsOf, 409: ProblemSchema } },
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
        security,
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
        security,
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
