/** `/api/v1/auth/login/mfa`, `/api/v1/auth/mfa/*`: completing a login with a second factor, and TOTP management. */
import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, bearerToken, requestTenant, TENANT_HEADER } from '@gatehouse/platform/auth';
import { errors } from '@gatehouse/platform/errors';
import { bearerSecurity, problems, ProblemSchema, TokenResponseSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { SignInRouteDeps } from '../auth/auth.cookies';
import { CookieModeQuerySchema, EmptyBodySchema } from '../auth/auth.schemas';
import type { LoginGate } from './mfa.login';
import type { MfaService, MfaSubject } from './mfa.service';
import type { MfaTokens } from './mfa.tokens';
import { BackupCodesSchema, LoginMfaBodySchema, PasswordBodySchema, TotpConfirmBodySchema, TotpSetupSchema } from './mfa.schemas';

export interface MfaRouteDeps extends SignInRouteDeps {
  gate: LoginGate;
  mfa: MfaService;
  tokens: MfaTokens;
}

const P = '/api/v1/auth';
const tags = ['mfa'];
const problemResponses = problems(400, 401, 404, 409, 429, 503);

/** Registers login/mfa and the TOTP and backup-code routes. */
export function registerMfaRoutes(app: HttpApp, { gate, mfa, tokens, verifier, cookies }: MfaRouteDeps) {
  const requireUser = authenticate(verifier);

  /**
   * Setup and confirm accept an access token, or the enrollment mfaToken a login answered with
   * in a tenant that requires MFA (and nothing else accepts that token).
   */
  async function enrollingSubject(req: FastifyRequest, reply: FastifyReply): Promise<MfaSubject> {
    const token = bearerToken(req);
    if (token?.startsWith('mfa_')) {
      const rec = await tokens.peek(token);
      const tenant = req.headers[TENANT_HEADER];
      if (!rec || !rec.enrollment || (typeof tenant === 'string' && tenant !== rec.tenantId)) throw errors.invalidToken('The enrollment token is unknown, expired or used.');
      return { tenantId: rec.tenantId, userId: rec.userId, enrollmentToken: token };
    }
    await requireUser(req, reply);
    return { tenantId: req.auth!.tid, userId: req.auth!.sub };
  }

  app.post(
    `${P}/login/mfa`,
    {
      schema: {
        tags: ['auth', ...tags],
        summary: 'Complete a sign-in with a TOTP code or a backup code',
        description:
          'Takes the mfaToken of a login that answered mfaRequired. A code works once (also under parallel submission); attempts are throttled per user, per mfaToken and per client IP. amr of the session gains `otp`.',
        querystring: CookieModeQuerySchema,
        body: LoginMfaBodySchema,
        response: { 200: TokenResponseSchema, ...problemResponses, 403: ProblemSchema },
      },
    },
    async (req, reply) => {
      const { mfaToken, ...factor } = req.body;
      const res = await gate.complete(requestTenant(req), mfaToken, factor as { code: string } | { backupCode: string }, requestContext(req));
      return reply.send(cookies.apply(reply, req.query.mode, res));
    },
  );

  app.post(
    `${P}/mfa/totp/setup`,
    {
      schema: {
        tags,
        summary: 'Start TOTP enrollment: a new secret, its otpauth URI and an SVG QR code',
        description: 'Bearer: an access token, or the enrollment mfaToken of a login in a tenant that requires MFA. Replaces a pending (unconfirmed) secret; 409 when TOTP is already enabled.',
        security: bearerSecurity,
        body: EmptyBodySchema,
        response: { 200: TotpSetupSchema, ...problemResponses },
      },
    },
    async (req, reply) => mfa.setup(await enrollingSubject(req, reply)),
  );

  app.post(
    `${P}/mfa/totp/confirm`,
    {
      schema: {
        tags,
        summary: 'Enable TOTP with a code of the new secret; returns 10 backup codes',
        description: 'With an enrollment mfaToken as bearer, the answer also carries `tokens`: the sign-in the enrollment completes (amr pwd+otp).',
        security: bearerSecurity,
        body: TotpConfirmBodySchema,
        response: { 200: BackupCodesSchema, ...problemResponses },
      },
    },
    async (req, reply) => mfa.confirm(await enrollingSubject(req, reply), req.body.code, requestContext(req)),
  );

  app.delete(
    `${P}/mfa/totp`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Disable TOTP (needs the password); backup codes go too',
        security: bearerSecurity,
        body: PasswordBodySchema,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (req, reply) => {
      await mfa.disable(req.auth!.tid, req.auth!.sub, req.body.password, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${P}/mfa/backup-codes`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'New backup codes (needs the password); the old ones stop working',
        security: bearerSecurity,
        body: PasswordBodySchema,
        response: { 200: BackupCodesSchema, ...problemResponses },
      },
    },
    async (req) => ({ backupCodes: await mfa.regenerateBackupCodes(req.auth!.tid, req.auth!.sub, req.body.password, requestContext(req)) }),
  );
}
