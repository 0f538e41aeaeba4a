/** `/api/v1/auth/oauth/*` (social login and linking) and `/api/v1/admin/oauth-providers` (configuration). */
import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant } from '@gatehouse/platform/auth';
import { bearerSecurity, problems, ProblemSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import { isLoopbackUrl, type SignInRouteDeps } from '../auth/auth.cookies';
import { CookieModeQuerySchema } from '../auth/auth.schemas';
import { LoginResultSchema } from '../mfa/mfa.schemas';
import type { OAuthAdminService } from './oauth.admin';
import { FLOW_TTL_SEC, type OAuthService } from './oauth.service';
import {
  CallbackQuerySchema,
  ExchangeBodySchema,
  IdentityListSchema,
  IdentityParamsSchema,
  LinkStartBodySchema,
  LinkStartResponseSchema,
  ProviderConfigBodySchema,
  ProviderConfigListSchema,
  ProviderConfigSchema,
  ProviderParamsSchema,
  ProvidersListSchema,
  StartQuerySchema,
} from './oauth.schemas';

/** The cookie binding a flow to the browser that started it. */
export const FLOW_COOKIE = 'gatehouse_oauth';
const FLOW_COOKIE_PATH = '/api/v1/auth/oauth';

export interface OAuthRouteDeps extends SignInRouteDeps {
  oauth: OAuthService;
  oauthAdmin: OAuthAdminService;
  publicUrl: string;
}

const P = '/api/v1/auth/oauth';
const tags = ['oauth'];
const problemResponses = problems(400, 401, 403, 404, 429, 502, 503);

/** Registers the social-login and provider-configuration routes. */
export function registerOAuthRoutes(app: HttpApp, { oauth, oauthAdmin, verifier, cookies, publicUrl }: OAuthRouteDeps) {
  const requireUser = authenticate(verifier);
  const requireAdmin = authenticate(verifier, ['admin']);
  const secure = !isLoopbackUrl(publicUrl);

  function setFlowCookie(reply: FastifyReply, binding: string): void {
    // Lax, not Strict: the provider's redirect back is a cross-site top-level navigation
    reply.setCookie(FLOW_COOKIE, binding, { httpOnly: true, secure, sameSite: 'lax', path: FLOW_COOKIE_PATH, maxAge: FLOW_TTL_SEC });
  }

  app.get(
    `${P}/providers`,
    { schema: { tags, summary: 'The social sign-in providers this tenant offers', response: { 200: ProvidersListSchema, 404: ProblemSchema } } },
    async (req) => oauth.providers(requestTenant(req)),
  );

  app.get(
    `${P}/:provider/start`,
    {
      schema: {
        tags,
        summary: 'Start a social sign-in: 302 to the provider',
        description:
          'redirectUri must equal one of the tenant\'s settings.redirectUris exactly. Authorization code flow with PKCE S256, state and nonce; sets an HttpOnly cookie binding the flow to this browser. The callback returns to redirectUri with ?code= (exchange it at POST /oauth/exchange) or ?error=.',
        params: ProviderParamsSchema,
        querystring: StartQuerySchema,
        response: { 302: Type.Null({ description: 'Location: the provider' }), ...problemResponses },
      },
    },
    async (req, reply) => {
      const { url, binding } = await oauth.start(requestTenant(req), req.params.provider, req.query.redirectUri);
      setFlowCookie(reply, binding);
      return reply.redirect(url, 302);
    },
  );

  app.post(
    `${P}/:provider/link/start`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Link a provider account to the signed-in user',
        description: 'Same flow as start; the callback links the identity (error identity_in_use when it belongs to another user) and returns to redirectUri with ?linked=<provider>.',
        security: bearerSecurity,
        params: ProviderParamsSchema,
        body: LinkStartBodySchema,
        response: { 200: LinkStartResponseSchema, ...problemResponses },
      },
    },
    async (req, reply) => {
      const { url, binding } = await oauth.start(req.auth!.tid, req.params.provider, req.body.redirectUri, req.auth!.sub);
      setFlowCookie(reply, binding);
      return { authorizationUrl: url };
    },
  );

  app.get(
    `${P}/:provider/callback`,
    {
      schema: {
        tags,
        summary: 'The provider\'s redirect back: 302 to redirectUri with a one-time code or an error',
        description:
          'Errors after the state is recognised go to redirectUri as ?error= (access_denied, state_mismatch, invalid_grant, invalid_response, provider_error, email_required, link_required, identity_in_use, registration_closed, account_disabled). An unknown, expired or used state is a 400 invalid_state.',
        params: ProviderParamsSchema,
        querystring: CallbackQuerySchema,
        response: { 302: Type.Null({ description: 'Location: redirectUri?code=… or ?error=…' }), ...problemResponses },
      },
    },
    async (req, reply) => {
      // the raw query, as the provider sent it, for the protocol client's checks
      const raw = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
      const binding = req.cookies?.[FLOW_COOKIE];
      const location = await oauth.callback(req.params.provider, raw, typeof binding === 'string' ? binding : undefined, requestContext(req));
      reply.clearCookie(FLOW_COOKIE, { httpOnly: true, secure, sameSite: 'lax', path: FLOW_COOKIE_PATH });
      return reply.redirect(location, 302);
    },
  );

  app.post(
    `${P}/exchange`,
    {
      schema: {
        tags: ['auth', ...tags],
        summary: 'Exchange the one-time code of a social sign-in for tokens',
        description: 'Single use, valid 2 minutes. A user with TOTP gets the mfaRequired answer instead, like a password login.',
        querystring: CookieModeQuerySchema,
        body: ExchangeBodySchema,
        response: { 200: LoginResultSchema, ...problemResponses },
      },
    },
    async (req, reply) => {
      const res = await oauth.exchange(requestTenant(req), req.body.code, requestContext(req));
      return reply.send('accessToken' in res ? cookies.apply(reply, req.query.mode, res) : res);
    },
  );

  const I = '/api/v1/auth/identities';
  app.get(
    I,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'The sign-in identities linked to my account, and my other ways to sign in',
        description: 'Link another with POST /api/v1/auth/oauth/{provider}/link/start.',
        security: bearerSecurity,
        response: { 200: IdentityListSchema, ...problemResponses },
      },
    },
    async (req) => oauth.identities(req.auth!.tid, req.auth!.sub),
  );

  app.delete(
    `${I}/:provider`,
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Unlink a provider\'s identities from my account',
        description:
          'Allowed while another way to sign in remains (a password, a passkey or another provider\'s identity); otherwise 409 last_sign_in_method. 404 identity_not_found when none of this provider is linked. Publishes auth.events.oauth_unlinked.',
        security: bearerSecurity,
        params: IdentityParamsSchema,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (req, reply) => {
      await oauth.unlink(req.auth!.tid, req.auth!.sub, req.params.provider, requestContext(req));
      return reply.code(204).send(null);
    },
  );

  const A = '/api/v1/admin/oauth-providers';
  app.get(
    A,
    { preHandler: requireAdmin, schema: { tags: ['admin', ...tags], summary: 'The tenant\'s sign-in provider configurations (secrets never returned)', security: bearerSecurity, response: { 200: ProviderConfigListSchema, ...problemResponses } } },
    async (req) => oauthAdmin.list(req.auth!.tid),
  );

  app.put(
    `${A}/:provider`,
    {
      preHandler: requireAdmin,
      schema: {
        tags: ['admin', ...tags],
        summary: 'Configure a sign-in provider for the tenant',
        description:
          'The client secret is sealed with the master secret. Generic OIDC needs discoveryUrl (or explicit endpoints). Endpoint overrides (issuer, authorization, token, userinfo, jwks) replace the provider\'s defaults; URLs must be https.',
        security: bearerSecurity,
        params: ProviderParamsSchema,
        body: ProviderConfigBodySchema,
        response: { 200: ProviderConfigSchema, ...problemResponses },
      },
    },
    async (req) => oauthAdmin.put(req.auth!.tid, req.params.provider, req.body),
  );

  app.delete(
    `${A}/:provider`,
    {
      preHandler: requireAdmin,
      schema: { tags: ['admin', ...tags], summary: 'Remove a sign-in provider configuration', security: bearerSecurity, params: ProviderParamsSchema, response: { 204: Type.Null(), ...problemResponses } },
    },
    async (req, reply) => {
      await oauthAdmin.remove(req.auth!.tid, req.params.provider);
      return reply.code(204).send(null);
    },
  );
}
