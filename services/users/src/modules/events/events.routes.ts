/** Event routes: members read, organizers create, the event's organizer or an admin changes and deletes. */
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { IdParams } from '../../common';
import { EventCreateSchema, EventListQuery, EventListSchema, EventPatchSchema, EventSchema } from './events.schemas';
import type { EventService } from './events.service';

/** Registers the event routes. */
export function eventRoutes(
  app: HttpApp,
  deps: { events: EventService; requireUser: preHandlerAsyncHookHandler; requireOrganizer: preHandlerAsyncHookHandler },
) {
  const { events, requireUser, requireOrganizer } = deps;

  app.post(
    '/api/v1/events',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['events'],
        summary: 'Create an event (organizer)',
        security: bearerSecurity,
        body: EventCreateSchema,
        response: { 201: EventSchema, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await events.create(req.auth!, req.body)),
  );

  app.get(
    '/api/v1/events',
    {
      preHandler: requireUser,
      schema: {
        tags: ['events'],
        summary: 'List events, by start time',
        security: bearerSecurity,
        querystring: EventListQuery,
        response: { 200: EventListSchema, ...problems(400, 401, 403) },
      },
    },
    async (req) => events.list(req.auth!.tid, req.query),
  );

  app.get(
    '/api/v1/events/:id',
    {
      preHandler: requireUser,
      schema: {
        tags: ['events'],
        summary: 'An event',
        security: bearerSecurity,
        params: IdParams,
        response: { 200: EventSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => events.get(req.auth!.tid, req.params.id),
  );

  app.patch(
    '/api/v1/events/:id',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['events'],
        summary: 'Change an event (its organizer or an admin)',
        security: bearerSecurity,
        params: IdParams,
        body: EventPatchSchema,
        response: { 200: EventSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => events.update(req.auth!, req.params.id, req.body),
  );

  app.delete(
    '/api/v1/events/:id',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['events'],
        summary: 'Delete an event and its attendance (its organizer or an admin)',
        security: bearerSecurity,
        params: IdParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await events.remove(req.auth!, req.params.id);
      return reply.code(204).send(null);
    },
  );
}
