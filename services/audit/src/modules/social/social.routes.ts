/** Routes of the social log: POST and GET /api/v1/social-logs. */
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import type { HttpApp } from '@gatehouse/platform/http';
import type { FastifyRequest } from 'fastify';
import { AuditEntrySchema } from '../chain/chain.schemas';
import { EntryListSchema } from '../entries/entries.schemas';
import { CreateSocialLogSchema, SocialListQuerySchema } from './social.schemas';
import type { SocialContext, SocialService } from './social.service';


function context(req: FastifyRequest): SocialContext {
  const ua = req.headers['user-agent'];
  return {
    tenantId: req.auth!.tid,
    userId: req.auth!.sub,
    roles: req.auth!.roles,
    ip: req.ip ?? null,
    userAgent: typeof ua === 'string' ? ua : null,
    requestId: String(req.id),
  };
}

/** Registers the social-log routes. */
export function registerSocialRoutes(app: HttpApp, deps: { social: SocialService; verifier: TokenVerifier }) {
  const { social, verifier } = deps;

  app.post(
    '/api/v1/social-logs',
    {
      preHandler: authenticate(verifier),
      schema: {
        tags: ['social'],
        summary: 'Record a social entry (any signed-in user)',
        description: 'Appended to the tenant audit chain as social.events.<type> and published as that event. Rate-limited per user (429 rate_limited with Retry-After).',
        security: bearerSecurity,
        body: CreateSocialLogSchema,
        response: { 201: AuditEntrySchema, ...problems(400, 401, 429) },
      },
    },
    async (req, reply) => {
      const { entry, rate } = await social.record(context(req), req.body);
      if (rate.resetSec > 0) {
        reply
          .header('ratelimit-limit', String(rate.limit))
          .header('ratelimit-remaining', String(rate.remaining))
          .header('ratelimit-reset', String(rate.resetSec));
      }
      return reply.code(201).send(entry);
    },
  );

  app.get(
    '/api/v1/social-logs',
    {
      preHandler: authenticate(verifier),
      schema: {
        tags: ['social'],
        summary: "List the tenant's social entries",
        description: 'Newest first, cursor-paginated; filters by actor, type (as posted, e.g. post.liked) and target.',
        security: bearerSecurity,
        querystring: SocialListQuerySchema,
        response: { 200: EntryListSchema, ...problems(400, 401) },
      },
    },
    async (req) => social.list(context(req), req.query),
  );
}
