/** `/api/v1/auth`: register, login, refresh, logout, logout-all, me. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, TENANT_HEADER } from '@gatehouse/platform/auth';
import { bearerSecurity, ProblemSchema, TokenResponseSchema, UserSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { SessionService } from '../sessions/sessions.service';
import { sessionErrors } from '../sessions/sessions.errors';
import type { AuthFlows } from './auth.service';
import type { SignInRouteDeps } from './auth.cookies';
import { LoginResultSchema } from '../mfa/mfa.schemas';
import { CookieModeQuerySchema, EmptyBodySchema, LoginBodySchema, RefreshBodySchema, RegisterBodySchema } from './auth.schemas';

export interface AuthRouteDeps extends SignInRouteDeps {
  auth: AuthFlows;
  sessions: SessionService;
}

const P = '/api/v1/auth';
const tags = ['auth'];

/** Registers register, login, refresh, logout, logout-all and me. */
export function registerAuthRoutes(app: HttpApp, { auth, sessions, verifier, cookies }: AuthRouteDeps) {
  const requireUser = authenticate(verifier);

  app.post(
    `${P}/register`,
    {
      schema: {
        tags,
        summary: 'Create an account and sign in',
        description: 'Sends a verification email. Password: 8-256 characters (tenant may raise the minimum), not a common password, not the email or username.',
        querystring: CookieModeQuerySchema,
        body: RegisterBodySchema,
        response: { 201: TokenResponseSchema, 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema },
      },
    },
    async (req, reply) => {
      const res = await auth.register(requestTenant(req), req.body, requestContext(req));
      return reply.code(201).send(cookies.apply(reply, req.query.mode, res));
    },
  );

  app.post(
    `${P}/login`,
    {
      schema: {
        tags,
        summary: 'Sign in with email or username and password',
        description:
          'Unknown account, wrong and empty password answer the same 401. Throttled per account and client IP (429 too_many_attempts). A user with a second factor (or without one in a tenant that requires MFA) gets `{mfaRequired, mfaToken, methods}` instead of tokens: complete it at POST /login/mfa, or enroll with the mfaToken when `enrollmentRequired`.',
        querystring: CookieModeQuerySchema,
        body: LoginBodySchema,
        response: { 200: LoginResultSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (req, reply) => {
      const res = await auth.login(requestTenant(req), req.body, requestContext(req));
      return reply.send('accessToken' in res ? cookies.apply(reply, req.query.mode, res) : res);
    },
  );

  app.post(
    `${P}/refresh`,
    {
      schema: {
        tags,
        summary: 'Exchange a refresh token for new tokens (rotation)',
        description:
          'The refresh token comes from the body or, in cookie mode, the cookie. Each token works once; presenting a used one revokes the session (refresh_token_reused). Roles are re-read, so role changes apply here. The cookie is accepted only from the request\'s own origin, PUBLIC_URL, CORS_ORIGINS and the tenant\'s allowedOrigins (403 origin_not_allowed otherwise).',
        querystring: CookieModeQuerySchema,
        body: RefreshBodySchema,
        response: { 200: TokenResponseSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (req, reply) => {
      const token = req.body?.refreshToken ?? (await cookies.read(req));
      if (!token) throw sessionErrors.invalidRefresh();
      const header = req.headers[TENANT_HEADER];
      // a token from the cookie always answers in cookie mode: it must not leak into a body
      const mode = req.body?.refreshToken ? req.query.mode : 'cookie';
      const { response } = await sessions.refresh(token, requestContext(req), typeof header === 'string' ? header : undefined);
      return reply.send(cookies.apply(reply, mode, response));
    },
  );

  app.post(
    `${P}/logout`,
    {
      schema: {
        tags,
        summary: 'Sign out: revoke the current session',
        description:
          'The session is the access token\'s; without an access token, the session of the refresh token in the body or the cookie (cookie mode; the cookie only from the allowed origins, as for /refresh). Clears the refresh cookie.',
        security: bearerSecurity,
        body: RefreshBodySchema,
        response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (req, reply) => {
      // a bearer token decides alone; the cookie (origin-checked) only stands in for a body token
      const refreshToken = req.headers.authorization ? undefined : (req.body?.refreshToken ?? (await cookies.read(req)));
      if (req.headers.authorization || !refreshToken) {
        await requireUser(req, reply);
        const a = req.auth!;
        await sessions.revokeOne(a.tid, a.sub, a.sid, requestContext(req), 'logout').catch((err: unknown) => {
          // already revoked (e.g. by another logout racing this one): the outcome is the same
          if ((err as { code?: string }).code !== 'not_found') throw err;
        });
      } else {
        const header = req.headers[TENANT_HEADER];
        await sessions.revokeByRefreshToken(refreshToken, requestContext(req), typeof header === 'string' ? header : undefined);
      }
      cookies.clear(reply);
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${P}/logout-all`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Sign out everywhere: revoke every session of the user',
        security: bearerSecurity,
        body: EmptyBodySchema,
        response: { 204: Type.Null(), 401: ProblemSchema },
      },
    },
    async (req, reply) => {
      const a = req.auth!;
      await sessions.revokeAll(a.tid, a.sub, requestContext(req), 'logout_all', 'logout');
      cookies.clear(reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    `${P}/me`,
    {
      preHandler: requireUser,
      schema: { tags, summary: 'The signed-in user', security: bearerSecurity, response: { 200: UserSchema, 401: ProblemSchema, 404: ProblemSchema } },
    },
    async (req) => auth.me(req.auth!.tid, req.auth!.sub),
  );
}
