/** `/api/v1/auth/password/*` and `/api/v1/auth/email/*`. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, ProblemSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
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

  app.post(
    `${P}/password/forgot`,
    {
      schema: {
        tags,
        summary: 'Email a password-reset link (always 202)',
        description: 'Answers 202 whether or not the address has an account; the link is valid 30 minutes, once.',
        body: ForgotPasswordBodySchema,
        response: { 202: Type.Null(), 400: ProblemSchema, 404: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      await recovery.forgot(requestTenant(req), req.body.email, requestContext(req));
      return reply.code(202).send(null);
    },
  );

  app.post(
    `${P}/password/reset`,
    {
      schema: {
        tags,
        summary: 'Set a new password with the emailed token; every session is revoked',
        description: 'Never signs in: sign in with the new password afterwards.',
        body: ResetPasswordBodySchema,
        response: { 204: Type.Null(), 400: ProblemSchema, 404: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      await recovery.reset(requestTenant(req), req.body.token, req.body.newPassword, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${P}/email/verify`,
    {
      schema: {
        tags,
        summary: 'Confirm the email address with the emailed token',
        body: VerifyEmailBodySchema,
        response: { 204: Type.Null(), 400: ProblemSchema, 404: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      await recovery.verifyEmail(requestTenant(req), req.body.token, requestContext(req));
      return reply.code(204).send(null);
    },
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
