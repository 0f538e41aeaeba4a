/** `/api/v1/auth/password/*` and `/api/v1/auth/email/*`. */
import { Type, type Static, type TSchema } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, ProblemSchema, problems } from '@gatehouse/contracts';
import { requestContext, type RequestContext } from '../../context';
import { EmptyBodySchema } from '../auth/auth.schemas';
import type { RecoveryService } from './recovery.service';
import { ChangePasswordBodySchema, ForgotPasswordBodySchema, ResetPasswordBodySchema, VerifyEmailBodySchema } from './recovery.schemas';

const P = '/api/v1/auth';
const tags = ['auth'];

/** Registers the password and email-verification routes. */
export function registerRecoveryRoutes(app: HttpApp, { recovery, verifier }: { recovery: RecoveryService; verifier: TokenVerifier }) {
  const requireUser = authenticate(verifier);

  app.post(
    `${P}/password/change`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Change the password (needs the current one); other sessions are revoked',
        security: bearerSecurity,
        body: ChangePasswordBodySchema,
        response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      const a = req.auth!;
      await recovery.changePassword(a.tid, a.sub, a.sid, req.body, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  /**
   * The routes a user reaches from an email link or the sign-in page, without a session: each
   * takes a body, answers `status` with no content, and fails with the same problems.
   */
  function emailLinkRoute<B extends TSchema>(
    path: string,
    status: 202 | 204,
    schema: { summary: string; description?: string; body: B },
    run: (tenantId: string, body: Static<B>, ctx: RequestContext) => Promise<void>,
  ) {
    app.post(
      `${P}${path}`,
      { schema: { tags, ...schema, response: { [status]: Type.Null(), ...problems(400, 404, 429, 503) } } },
      async (req, reply) => {
        await run(requestTenant(req), req.body as Static<B>, requestContext(req));
        return reply.code(status).send(null);
      },
    );
  }

  emailLinkRoute(
    '/password/forgot',
    202,
    {
      summary: 'Email a password-reset link (always 202)',
      description: 'Answers 202 whether or not the address has an account; the link is valid 30 minutes, once.',
      body: ForgotPasswordBodySchema,
    },
    (tenantId, body, ctx) => recovery.forgot(tenantId, body.email, ctx),
  );

  emailLinkRoute(
    '/password/reset',
    204,
    {
      summary: 'Set a new password with the emailed token; every session is revoked',
      description: 'Never signs in: sign in with the new password afterwards.',
      body: ResetPasswordBodySchema,
    },
    (tenantId, body, ctx) => recovery.reset(tenantId, body.token, body.newPassword, ctx),
  );

  emailLinkRoute(
    '/email/verify',
    204,
    { summary: 'Confirm the email address with the emailed token', body: VerifyEmailBodySchema },
    (tenantId, body, ctx) => recovery.verifyEmail(tenantId, body.token, ctx),
  );

  app.post(
    `${P}/email/verify/resend`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Send a new verification email (nothing when already verified)',
        security: bearerSecurity,
        body: EmptyBodySchema,
        response: { 202: Type.Null(), 401: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      await recovery.resendVerification(req.auth!.tid, req.auth!.sub);
      return reply.code(202).send(null);
    },
  );
}
