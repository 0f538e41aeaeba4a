/**
 * The OpenID provider's HTTP surface:
 * - `/oidc/*`: oidc-provider itself (a Koa app) for the request's tenant, on the raw request
 *   (`reply.hijack()`; bodies left unread for its own parser);
 * - `/oidc/interaction/:uid[/…]`: the hosted login and consent. The browser is sent to the
 *   console (`/#/oidc?uid=…`), which signs the user in the usual way and then finishes the
 *   interaction here with the user's Gatehouse access token;
 * - the admin API of applications and resources, and the user's connected apps.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Type } from 'typebox';
import type Provider from 'oidc-provider';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, requestTenant, type TokenVerifier } from '@gatehouse/platform/auth';
import { AppError, errors } from '@gatehouse/platform/errors';
import { bearerSecurity, problems, ProblemSchema } from '@gatehouse/contracts';
import type { Database } from '../../db/schema';
import { oidcEvent } from '../../events';
import type { OidcAdmin } from './oidc.admin';
import { oidcErrors } from './oidc.errors';
import { mountBelow, type OidcProviders } from './oidc.provider';
import { findApplicationByClientId, saveConsent } from './oidc.queries';
import {
  ApplicationCreateSchema,
  ApplicationListSchema,
  ApplicationPatchSchema,
  ApplicationSchema,
  ApplicationWithSecretSchema,
  ConsentListSchema,
  ConsentParamsSchema,
  IdParamsSchema,
  InteractionDetailsSchema,
  InteractionParamsSchema,
  InteractionRedirectSchema,
  ResourceCreateSchema,
  ResourceListSchema,
  ResourcePatchSchema,
  ResourceSchema,
  SecretSchema,
} from './oidc.schemas';

export interface OidcRouteDeps {
  providers: OidcProviders;
  oidcAdmin: OidcAdmin;
  verifier: TokenVerifier;
  db: Database;
}

/** How recent a Gatehouse sign-in must be for `prompt=login` or an exceeded `max_age`. */
const FRESH_SIGN_IN_SEC = 300;
/**
 * The least age a sign-in may have and still count for an exceeded `max_age`, however small
 * `max_age` is (0 means "always sign in again"): the time a user needs to sign in on the
 * console and come back, within the 30 s clock tolerance relying parties allow on auth_time.
 */
const JUST_SIGNED_IN_SEC = 30;

/** How old (seconds) the Gatehouse sign-in may be for this login step: a fresh one for prompt=login or an exceeded max_age. */
function freshnessLimit(reasons: readonly string[], maxAge: unknown): number | undefined {
  let limit: number | undefined;
  if (reasons.includes('login_prompt')) limit = FRESH_SIGN_IN_SEC;
  const age = Number(maxAge);
  if (reasons.includes('max_age') && Number.isFinite(age)) {
    // the sign-in must be younger than max_age asks, so the ID token's auth_time honours it
    const forMaxAge = Math.max(Math.min(FRESH_SIGN_IN_SEC, age), JUST_SIGNED_IN_SEC);
    limit = Math.min(limit ?? forMaxAge, forMaxAge);
  }
  return limit;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export async function registerOidcRoutes(app: HttpApp, deps: OidcRouteDeps) {
  const { providers, oidcAdmin, verifier, db } = deps;
  const requireAdmin = authenticate(verifier, ['admin']);
  const requireUser = authenticate(verifier);
  const callbacks = new WeakMap<Provider, (req: IncomingMessage, res: ServerResponse) => void>();

  // ---- the provider itself -------------------------------------------------------------
  await app.register(async (scope) => {
    // oidc-provider parses its own bodies (form or JSON): leave the request stream unread
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const provider = await providers.forTenant(requestTenant(req));
      let cb = callbacks.get(provider);
      if (!cb) {
        cb = provider.callback();
        callbacks.set(provider, cb);
      }
      reply.hijack();
      mountBelow(req.raw, '/oidc');
      cb(req.raw, reply.raw);
    };
    const schema = { hide: true, summary: 'OpenID Connect provider (discovery at /oidc/.well-known/openid-configuration)' };
    scope.route({ method: [...METHODS], url: '/oidc/*', schema, exposeHeadRoute: false, handler });
  });

  // ---- hosted login and consent ----------------------------------------------------------
  const I = '/oidc/interaction/:uid';
  const itags = ['oidc'];

  async function interaction(req: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply) {
    const tenantId = requestTenant(req);
    const provider = await providers.forTenant(tenantId);
    try {
      const details = await provider.interactionDetails(req.raw, reply.raw);
      if (details.uid !== req.params.uid) throw oidcErrors.interactionNotFound();
      return { tenantId, provider, details };
    } catch (err) {
      if ((err as { status?: number }).status === 400 || (err as { name?: string }).name === 'SessionNotFound') throw oidcErrors.interactionNotFound();
      throw err;
    }
  }

  app.get(
    I,
    { schema: { tags: itags, summary: 'The authorization request\'s sign-in page: sends the browser to the console', params: InteractionParamsSchema, response: { 303: Type.Null(), 404: ProblemSchema } } },
    async (req, reply) => reply.code(303).header('location', `/#/oidc?uid=${encodeURIComponent(req.params.uid)}`).header('cache-control', 'no-store').send(null),
  );

  app.get(
    `${I}/details`,
    {
      schema: {
        tags: itags,
        summary: 'What the pending authorization request asks for (the application, scopes, login or consent)',
        params: InteractionParamsSchema,
        response: { 200: InteractionDetailsSchema, ...problems(404) },
      },
    },
    async (req, reply) => {
      const { tenantId, details } = await interaction(req, reply);
      const clientId = String(details.params.client_id ?? '');
      const appRow = await db.withTenantRead(tenantId, (trx) => findApplicationByClientId(trx, clientId));
      reply.header('cache-control', 'no-store');
      return {
        uid: details.uid,
        prompt: details.prompt.name,
        application: { clientId, name: appRow?.name ?? clientId, firstParty: appRow?.first_party ?? false },
        scopes: String(details.params.scope ?? '').split(' ').filter(Boolean),
        reasons: details.prompt.reasons,
      };
    },
  );

  app.post(
    `${I}/login`,
    {
      preHandler: requireUser,
      schema: {
        tags: itags,
        summary: 'Finish the sign-in step as the user of the access token',
        security: bearerSecurity,
        params: InteractionParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 200: InteractionRedirectSchema, ...problems(401, 404, 409) },
      },
    },
    async (req, reply) => {
      const { tenantId, provider, details } = await interaction(req, reply);
      const claims = req.auth!;
      if (claims.tid !== tenantId) throw errors.invalidToken('The access token belongs to another tenant.');
      const session = await db.withTenant(tenantId, (trx) => trx.selectFrom('sessions').select(['created_at', 'amr']).where('id', '=', claims.sid).executeTakeFirst());
      if (!session) throw errors.invalidToken();
      const authTime = Math.floor(session.created_at.getTime() / 1000);
      const limit = freshnessLimit(details.prompt.reasons, details.params.max_age);
      if (limit !== undefined && Date.now() / 1000 - authTime > limit) {
        throw new AppError('reauthentication_required', 409, { detail: 'The application asks for a fresh sign-in: sign in again.' });
      }
      const amr = session.amr.length ? session.amr : ['pwd'];
      const mfa = amr.some((m) => m !== 'pwd');
      const redirectTo = await provider.interactionResult(
        req.raw,
        reply.raw,
        { login: { accountId: claims.sub, amr, acr: mfa ? 'urn:gatehouse:loa:2' : 'urn:gatehouse:loa:1', ts: authTime, remember: true } },
        { mergeWithLastSubmission: false },
      );
      return { redirectTo };
    },
  );

  app.post(
    `${I}/consent`,
    {
      preHandler: requireUser,
      schema: {
        tags: itags,
        summary: 'Approve what the application asks for (remembered for this user and application)',
        security: bearerSecurity,
        params: InteractionParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 200: InteractionRedirectSchema, ...problems(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { tenantId, provider, details } = await interaction(req, reply);
      const claims = req.auth!;
      const accountId = details.session?.accountId;
      if (!accountId || accountId !== claims.sub || claims.tid !== tenantId) throw errors.forbidden('This sign-in request belongs to another user.');
      const clientId = String(details.params.client_id);
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      const scopes = String(details.params.scope ?? '').split(' ').filter(Boolean);
      await db.withTenant(tenantId, async (trx, emit) => {
        const appRow = await findApplicationByClientId(trx, clientId);
        if (!appRow) throw oidcErrors.applicationNotFound();
        await saveConsent(trx, tenantId, accountId, appRow.id, scopes);
        await emit(oidcEvent('oauth.events.consent_granted', tenantId, accountId, { userId: accountId, applicationId: appRow.id, clientId, scopes }));
      });
      const redirectTo = await provider.interactionResult(req.raw, reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return { redirectTo };
    },
  );

  app.post(
    `${I}/abort`,
    {
      schema: {
        tags: itags,
        summary: 'Refuse: the application receives access_denied',
        params: InteractionParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 200: InteractionRedirectSchema, ...problems(404) },
      },
    },
    async (req, reply) => {
      const { provider } = await interaction(req, reply);
      const redirectTo = await provider.interactionResult(req.raw, reply.raw, { error: 'access_denied', error_description: 'The user refused.' }, { mergeWithLastSubmission: false });
      return { redirectTo };
    },
  );

  // ---- admin: applications and resources ---------------------------------------------------
  const A = '/api/v1/admin/applications';
  const R = '/api/v1/admin/resources';
  const atags = ['admin'];
  const errs = problems(400, 401, 403, 404);

  app.post(
    A,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'Register an application (OAuth client)', security: bearerSecurity, body: ApplicationCreateSchema, response: { 201: ApplicationWithSecretSchema, ...errs } } },
    async (req, reply) => reply.code(201).send(await oidcAdmin.createApplication(req.auth!.tid, req.auth!.sub, req.body)),
  );
  app.get(A, { preHandler: requireAdmin, schema: { tags: atags, summary: 'The tenant\'s applications', security: bearerSecurity, response: { 200: ApplicationListSchema, ...errs } } }, async (req) =>
    oidcAdmin.listApplications(req.auth!.tid),
  );
  app.get(
    `${A}/:id`,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'One application', security: bearerSecurity, params: IdParamsSchema, response: { 200: ApplicationSchema, ...errs } } },
    async (req) => oidcAdmin.getApplication(req.auth!.tid, req.params.id),
  );
  app.patch(
    `${A}/:id`,
    {
      preHandler: requireAdmin,
      schema: { tags: atags, summary: 'Change an application (disabling ends its grants)', security: bearerSecurity, params: IdParamsSchema, body: ApplicationPatchSchema, response: { 200: ApplicationSchema, ...errs } },
    },
    async (req) => oidcAdmin.patchApplication(req.auth!.tid, req.auth!.sub, req.params.id, req.body),
  );
  app.delete(
    `${A}/:id`,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'Delete an application; its grants and tokens are revoked', security: bearerSecurity, params: IdParamsSchema, response: { 204: Type.Null(), ...errs } } },
    async (req, reply) => {
      await oidcAdmin.deleteApplication(req.auth!.tid, req.auth!.sub, req.params.id);
      return reply.code(204).send(null);
    },
  );
  app.post(
    `${A}/:id/secret`,
    {
      preHandler: requireAdmin,
      schema: {
        tags: atags,
        summary: 'A new client secret (shown once); the old one stops working',
        security: bearerSecurity,
        params: IdParamsSchema,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 200: SecretSchema, ...errs, 409: ProblemSchema },
      },
    },
    async (req) => oidcAdmin.rotateSecret(req.auth!.tid, req.auth!.sub, req.params.id),
  );

  app.post(
    R,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'Register an API resource (an access-token audience)', security: bearerSecurity, body: ResourceCreateSchema, response: { 201: ResourceSchema, ...errs, 409: ProblemSchema } } },
    async (req, reply) => reply.code(201).send(await oidcAdmin.createResource(req.auth!.tid, req.body)),
  );
  app.get(R, { preHandler: requireAdmin, schema: { tags: atags, summary: 'The tenant\'s API resources', security: bearerSecurity, response: { 200: ResourceListSchema, ...errs } } }, async (req) =>
    oidcAdmin.listResources(req.auth!.tid),
  );
  app.get(
    `${R}/:id`,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'One API resource', security: bearerSecurity, params: IdParamsSchema, response: { 200: ResourceSchema, ...errs } } },
    async (req) => oidcAdmin.getResource(req.auth!.tid, req.params.id),
  );
  app.patch(
    `${R}/:id`,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'Rename an API resource or change its scopes', security: bearerSecurity, params: IdParamsSchema, body: ResourcePatchSchema, response: { 200: ResourceSchema, ...errs } } },
    async (req) => oidcAdmin.patchResource(req.auth!.tid, req.params.id, req.body),
  );
  app.delete(
    `${R}/:id`,
    { preHandler: requireAdmin, schema: { tags: atags, summary: 'Delete an API resource', security: bearerSecurity, params: IdParamsSchema, response: { 204: Type.Null(), ...errs } } },
    async (req, reply) => {
      await oidcAdmin.deleteResource(req.auth!.tid, req.params.id);
      return reply.code(204).send(null);
    },
  );

  // ---- the user's connected apps -----------------------------------------------------------
  const C = '/api/v1/auth/consents';
  app.get(C, { preHandler: requireUser, schema: { tags: ['auth'], summary: 'Your connected apps', security: bearerSecurity, response: { 200: ConsentListSchema, ...problems(401) } } }, async (req) =>
    oidcAdmin.listConsents(req.auth!.tid, req.auth!.sub),
  );
  app.delete(
    `${C}/:applicationId`,
    {
      preHandler: requireUser,
      schema: { tags: ['auth'], summary: 'Disconnect an app: consent and its grants revoked', security: bearerSecurity, params: ConsentParamsSchema, response: { 204: Type.Null(), ...problems(401, 404) } },
    },
    async (req, reply) => {
      await oidcAdmin.revokeConsent(req.auth!.tid, req.auth!.sub, req.params.applicationId);
      return reply.code(204).send(null);
    },
  );
}
