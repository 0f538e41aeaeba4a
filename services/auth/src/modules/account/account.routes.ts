/** Self-service: `PATCH/DELETE /api/v1/auth/me`, `POST /api/v1/auth/email/change[/confirm]`. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems, UserSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { AccountService } from './account.service';
import { DeleteMeSchema, EmailChangeConfirmSchema, EmailChangeSchema, MePatchSchema } from './account.schemas';

const P = '/api/v1/auth';
const tags = ['auth'];

/** Registers the self-service account routes. */
export function registerAccountRoutes(app: HttpApp, { account, verifier }: { account: AccountService; verifier: TokenVerifier }) {
  const requireUser = authenticate(verifier);

  app.patch(
    `${P}/me`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Change your username or display name',
        description: '409 `username_taken` when another account of the tenant has the username (case-insensitively). Emits `user.events.updated`.',
        security: bearerSecurity,
        body: MePatchSchema,
        response: { 200: UserSchema, ...problems(400, 401, 404, 409) },
      },
    },
    async (req) => account.updateMe(req.auth!, req.body),
  );

  app.post(
    `${P}/email/change`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Change your email address: a link to the new one, a notice to the old',
        description:
          'Needs the password (401 `invalid_credentials`, throttled like a login). The new address receives a single-use link (`/confirm-email?token=`, 24 h); nothing changes until it is confirmed. 409 `email_taken`.',
        security: bearerSecurity,
        body: EmailChangeSchema,
        response: { 202: Type.Null(), ...problems(400, 401, 409, 429, 503) },
      },
    },
    async (req, reply) => {
      await account.requestEmailChange(req.auth!, req.body, requestContext(req));
      return reply.code(202).send(null);
    },
  );

  app.post(
    `${P}/email/change/confirm`,
    {
      schema: {
        tags,
        summary: 'Confirm an email change with the token sent to the new address',
        description: 'The address changes and counts as verified; reset and verification links sent to the old one stop working. 400 `invalid_token`.',
        body: EmailChangeConfirmSchema,
        response: { 204: Type.Null(), ...problems(400, 404, 409, 429, 503) },
      },
    },
    async (req, reply) => {
      await account.confirmEmailChange(requestTenant(req), req.body.token, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  app.delete(
    `${P}/me`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Delete your account',
        description:
          'Confirmed by `password`, or, without one, by a sign-in with a second factor (TOTP or passkey) in the last 5 minutes (401 `invalid_credentials` otherwise). ' +
          'Every session is revoked, the account deleted, `user.events.deleted` published (the profile and avatar go; the audit log keeps the trail). A superadmin cannot delete itself (409 `self_lockout`).',
        security: bearerSecurity,
        body: DeleteMeSchema,
        response: { 204: Type.Null(), ...problems(400, 401, 404, 409, 429, 503) },
      },
    },
    async (req, reply) => {
      await account.deleteMe(req.auth!, req.body ?? {}, requestContext(req));
      return reply.code(204).send(null);
    },
  );
}
