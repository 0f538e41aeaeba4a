/** `/api/v1/auth/sessions`: the user's own sessions. */
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, ProblemSchema } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { SessionService } from './sessions.service';
import { SessionListSchema, SessionParamsSchema } from './sessions.schemas';

const tags = ['auth'];

/** Registers the session list and revoke routes. */
export function registerSessionRoutes(app: HttpApp, { sessions, verifier }: { sessions: SessionService; verifier: TokenVerifier }) {
  const requireUser = authenticate(verifier);

  app.get(
    '/api/v1/auth/sessions',
    {
      preHandler: requireUser,
      schema: { tags, summary: "The user's active sessions", security: bearerSecurity, response: { 200: SessionListSchema, 401: ProblemSchema } },
    },
    async (req) => ({ items: await sessions.list(req.auth!.tid, req.auth!.sub, req.auth!.sid) }),
  );

  app.delete(
    '/api/v1/auth/sessions/:id',
    {
      preHandler: requireUser,
      schema: {
        tags,
        summary: 'Revoke one of the user\'s sessions',
        security: bearerSecurity,
        params: SessionParamsSchema,
        response: { 204: Type.Null(), 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (req, reply) => {
      await sessions.revokeOne(req.auth!.tid, req.auth!.sub, req.params.id, requestContext(req), 'session_revoked');
      return reply.code(204).send(null);
    },
  );
}
