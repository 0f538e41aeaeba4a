/** `/api/v1/admin/users`: user management for a tenant's admins. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems, ProblemSchema, UserSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { MfaService } from '../mfa/mfa.service';
import type { AdminUserService } from './admin-users.service';
import { AdminUserCreateSchema, AdminUserListQuerySchema, AdminUserListSchema, AdminUserParamsSchema, AdminUserPatchSchema, AdminUserSessionParamsSchema } from './admin-users.schemas';
import { SessionListSchema } from '../sessions/sessions.schemas';

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
      schema: {
        tags,
        summary: 'Search the tenant\'s users',
        description:
          'Users in the order they were created, a page at a time (`nextCursor`; the cursor is a range of the (tenant, created_at, id) index). What an index serves: `match=prefix` (the lowercased email and username). What none serves: `match=contains`, the default, and the `role`, `status` and `verified` filters, which are tested on each user read: a search or filter that few users match can read the whole tenant (docs/api.md, "Searching users").',
        security: bearerSecurity,
        querystring: AdminUserListQuerySchema,
        response: { 200: AdminUserListSchema, ...errorsOf },
      },
    },
    async (req) => admin.list(req.auth!.tid, req.query),
  );

  app.post(
    P,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Create a user, with a password or by invitation',
        description:
          'With `password` (policy-checked) the user can sign in at once. Without, an invitation email carries a single-use set-password link (`/reset-password?token=`) valid 72 hours. ' +
          'Roles are built-in or custom role names of the tenant; only a superadmin grants superadmin. 409 `email_taken`, `username_taken`; 400 `weak_password`.',
        security: bearerSecurity,
        body: AdminUserCreateSchema,
        response: { 201: UserSchema, ...problems(400, 401, 403, 409, 503) },
      },
    },
    async (req, reply) => reply.code(201).send(await admin.create(req.auth!, req.body, requestContext(req))),
  );

  app.post(
    `${P}/:id/password-reset`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Email the user a password-reset link',
        description: 'The link (`/reset-password?token=`) works once, for 30 minutes; older links of the user stop working. 409 `account_disabled` for a disabled user; at most 5 per user and hour (429).',
        security: bearerSecurity,
        params: AdminUserParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 202: Type.Null(), ...errorsOf, ...problems(409, 429) },
      },
    },
    async (req, reply) => {
      await admin.sendPasswordReset(req.auth!, req.params.id, requestContext(req));
      return reply.code(202).send(null);
    },
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
        description: 'Disabling revokes every session at once. New roles cut the user\'s access tokens within a second; the next refresh carries the new roles and permissions.',
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

  app.get(
    `${P}/:id/sessions`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'The user\'s active sessions',
        description: '`current` is true only for the session of the calling admin (when the admin looks at their own account).',
        security: bearerSecurity,
        params: AdminUserParamsSchema,
        response: { 200: SessionListSchema, ...errorsOf },
      },
    },
    async (req) => ({ items: await admin.listSessions(req.auth!, req.params.id) }),
  );

  app.delete(
    `${P}/:id/sessions/:sid`,
    {
      preHandler: requireAdmin,
      schema: {
        tags,
        summary: 'Revoke one session of a user',
        description: 'Its access tokens stop working within a second and its refresh token is dead. 404 `not_found` for a session that is not the user\'s or has ended.',
        security: bearerSecurity,
        params: AdminUserSessionParamsSchema,
        response: { 204: Type.Null(), ...errorsOf },
      },
    },
    async (req, reply) => {
      await admin.revokeSession(req.auth!, req.params.id, req.params.sid, requestContext(req));
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
