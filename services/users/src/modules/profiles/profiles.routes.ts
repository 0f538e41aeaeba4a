/** Profile routes: the caller's own profile and other members' public profiles. */
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { IdParams } from '../../common';
import { ProfilePatchSchema, ProfileSchema } from './profiles.schemas';
import type { ProfileService } from './profiles.service';

/** Registers the profile routes. */
export function profileRoutes(app: HttpApp, deps: { profiles: ProfileService; requireUser: preHandlerAsyncHookHandler }) {
  const { profiles, requireUser } = deps;

  app.get(
    '/api/v1/users/me',
    {
      preHandler: requireUser,
      schema: {
        tags: ['users'],
        summary: 'The caller’s profile',
        description: '404 `profile_not_found` (with Retry-After) while the account has not reached this service yet.',
        security: bearerSecurity,
        response: { 200: ProfileSchema, ...problems(401, 403, 404) },
      },
    },
    async (req) => profiles.getOwn(req.auth!.tid, req.auth!.sub),
  );

  app.patch(
    '/api/v1/users/me',
    {
      preHandler: requireUser,
      schema: {
        tags: ['users'],
        summary: 'Change the caller’s profile',
        security: bearerSecurity,
        body: ProfilePatchSchema,
        response: { 200: ProfileSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => profiles.update(req.auth!.tid, req.auth!.sub, req.body),
  );

  app.get(
    '/api/v1/users/:id',
    {
      preHandler: requireUser,
      schema: {
        tags: ['users'],
        summary: 'A member’s public profile (same tenant only)',
        security: bearerSecurity,
        params: IdParams,
        response: { 200: ProfileSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => profiles.getPublic(req.auth!.tid, req.params.id),
  );
}
