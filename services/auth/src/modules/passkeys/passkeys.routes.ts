/** `/api/v1/auth/passkeys/*`: WebAuthn registration, passwordless sign-in, list and delete. */
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems, ProblemSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { RefreshCookies } from '../auth/auth.cookies';
import { CookieModeQuerySchema, EmptyBodySchema } from '../auth/auth.schemas';
import { LoginResultSchema } from '../mfa/mfa.schemas';
import type { PasskeyService } from './passkeys.service';
import { LoginVerifyBodySchema, OptionsJsonSchema, PasskeyListSchema, PasskeyParamsSchema, PasskeySchema, RegisterVerifyBodySchema } from './passkeys.schemas';

const P = '/api/v1/auth/passkeys';
const tags = ['passkeys'];
const problemResponses = problems(400, 401, 404, 409, 429, 503);

/** The browser's origin (WebAuthn binds credentials to it); absent for non-browser clients. */
function originOf(req: FastifyRequest): string | undefined {
  const o = req.headers.origin;
  return typeof o === 'string' && o.length <= 512 ? o : undefined;
}

/** Registers the passkey routes. */
export function registerPasskeyRoutes(app: HttpApp, { passkeys, verifier, cookies }: { passkeys: PasskeyService; verifier: TokenVerifier; cookies: RefreshCookies }) {
  const requireUser = authenticate(verifier);

  app.post(
    `${P}/register/options`,
    {
      preHandler: requireUser,
      schema: { tags, summary: 'Options to create a passkey (navigator.credentials.create)', security: bearerSecurity, body: EmptyBodySchema, response: { 200: OptionsJsonSchema, ...problemResponses } },
    },
    async (req) => passkeys.registrationOptions(req.auth!.tid, req.auth!.sub, originOf(req)),
  );

  app.post(
    `${P}/register/verify`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Store the passkey the browser created',
        description: 'Body: the credential as JSON (`PublicKeyCredential.toJSON()` or @simplewebauthn/browser) and an optional name.',
        security: bearerSecurity,
        body: RegisterVerifyBodySchema,
        response: { 200: PasskeySchema, ...problemResponses },
      },
    },
    async (req) => passkeys.register(req.auth!.tid, req.auth!.sub, req.body, originOf(req)),
  );

  app.post(
    `${P}/login/options`,
    { schema: { tags: ['auth', ...tags], summary: 'Options to sign in with a passkey (navigator.credentials.get)', body: EmptyBodySchema, response: { 200: OptionsJsonSchema, ...problemResponses } } },
    async (req) => passkeys.loginOptions(requestTenant(req), originOf(req)),
  );

  app.post(
    `${P}/login/verify`,
    {
      schema: {
        tags: ['auth', ...tags],
        summary: 'Sign in with a passkey',
        description:
          'With user verification the passkey is multi-factor: tokens with amr ["hwk","user"]. Without it, a user with TOTP is asked for the code like after a password (mfaRequired).',
        querystring: CookieModeQuerySchema,
        body: LoginVerifyBodySchema,
        response: { 200: LoginResultSchema, ...problemResponses, 403: ProblemSchema },
      },
    },
    async (req, reply) => {
      const res = await passkeys.login(requestTenant(req), req.body, originOf(req), requestContext(req));
      return reply.send('accessToken' in res ? cookies.apply(reply, req.query.mode, res) : res);
    },
  );

  app.get(
    P,
    { preHandler: requireUser, schema: { tags, summary: 'The user\'s passkeys', security: bearerSecurity, response: { 200: PasskeyListSchema, 401: ProblemSchema } } },
    async (req) => passkeys.list(req.auth!.tid, req.auth!.sub),
  );

  app.delete(
    `${P}/:id`,
    {
      preHandler: requireUser,
      schema: { tags, summary: 'Delete one of the user\'s passkeys', security: bearerSecurity, params: PasskeyParamsSchema, response: { 204: Type.Null(), 401: ProblemSchema, 404: ProblemSchema } },
    },
    async (req, reply) => {
      await passkeys.remove(req.auth!.tid, req.auth!.sub, req.params.id);
      return reply.code(204).send(null);
    },
  );
}
