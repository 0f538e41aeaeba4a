/** `/api/v1/admin/webhooks`: a tenant's webhook endpoints, for its admins (API.md "Webhooks"). */
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { requestContext } from '../../context';
import type { WebhookActor, WebhookService } from './webhooks.service';
import {
  AcceptedSchema,
  DeliveryDetailSchema,
  DeliveryListSchema,
  DeliveryParamsSchema,
  ListQuerySchema,
  TestAcceptedSchema,
  WebhookCreateBodySchema,
  WebhookCreatedSchema,
  WebhookListSchema,
  WebhookParamsSchema,
  WebhookPatchBodySchema,
  WebhookSchema,
} from './webhooks.schemas';

const P = '/api/v1/admin/webhooks';
const tags = ['admin', 'webhooks'];
const problemResponses = problems(400, 401, 403, 404, 409, 429, 503);

function actor(req: FastifyRequest): WebhookActor {
  return { userId: req.auth!.sub, ctx: requestContext(req) };
}

/** Registers the webhook administration routes (role admin of the token's tenant). */
export function registerWebhookRoutes(app: HttpApp, { webhooks, verifier }: { webhooks: WebhookService; verifier: TokenVerifier }) {
  const requireAdmin = authenticate(verifier, ['admin']);
  const common = { tags, security: bearerSecurity };

  app.post(
    P,
    {
      preHandler: requireAdmin,
      schema: {
        ...common,
        summary: 'Create a webhook endpoint',
        description:
          'Returns the signing secret (`whsec_…`) this once; it is stored sealed. `events` are subject patterns (`user.events.*`, `auth.events.>`). A URL whose host is a non-public IP literal or localhost is refused with 400 `webhook_target_refused` unless the deployment sets WEBHOOK_ALLOW_PRIVATE=true. Emits `auth.events.webhook_created`.',
        body: WebhookCreateBodySchema,
        response: { 201: WebhookCreatedSchema, ...problemResponses },
      },
    },
    async (req, reply) => reply.code(201).send(await webhooks.create(req.auth!.tid, actor(req), req.body)),
  );

  app.get(
    P,
    { preHandler: requireAdmin, schema: { ...common, summary: 'The tenant\'s webhook endpoints', querystring: ListQuerySchema, response: { 200: WebhookListSchema, ...problemResponses } } },
    async (req) => webhooks.list(req.auth!.tid, req.query),
  );

  app.get(
    `${P}/:id`,
    { preHandler: requireAdmin, schema: { ...common, summary: 'One webhook endpoint', params: WebhookParamsSchema, response: { 200: WebhookSchema, ...problemResponses } } },
    async (req) => webhooks.get(req.auth!.tid, req.params.id),
  );

  app.patch(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: {
        ...common,
        summary: 'Change a webhook endpoint (url, events, description, disabled)',
        description: 'Enabling a disabled endpoint resets its failure streak. Emits `auth.events.webhook_updated`.',
        params: WebhookParamsSchema,
        body: WebhookPatchBodySchema,
        response: { 200: WebhookSchema, ...problemResponses },
      },
    },
    async (req) => webhooks.update(req.auth!.tid, actor(req), req.params.id, req.body),
  );

  app.delete(
    `${P}/:id`,
    {
      preHandler: requireAdmin,
      schema: { ...common, summary: 'Delete a webhook endpoint and its deliveries', description: 'Emits `auth.events.webhook_deleted`.', params: WebhookParamsSchema, response: { 204: Type.Null(), ...problemResponses } },
    },
    async (req, reply) => {
      await webhooks.remove(req.auth!.tid, actor(req), req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    `${P}/:id/deliveries`,
    {
      preHandler: requireAdmin,
      schema: { ...common, summary: 'Deliveries of a webhook endpoint, newest first', params: WebhookParamsSchema, querystring: ListQuerySchema, response: { 200: DeliveryListSchema, ...problemResponses } },
    },
    async (req) => webhooks.deliveries(req.auth!.tid, req.params.id, req.query),
  );

  app.get(
    `${P}/:id/deliveries/:deliveryId`,
    {
      preHandler: requireAdmin,
      schema: { ...common, summary: 'One delivery with every attempt', params: DeliveryParamsSchema, response: { 200: DeliveryDetailSchema, ...problemResponses } },
    },
    async (req) => webhooks.delivery(req.auth!.tid, req.params.id, req.params.deliveryId),
  );

  app.post(
    `${P}/:id/deliveries/:deliveryId/replay`,
    {
      preHandler: requireAdmin,
      schema: {
        ...common,
        summary: 'Send a delivery again',
        description: 'The same event with the same webhook-id, whatever the delivery\'s status; 409 `webhook_disabled` when the endpoint is disabled.',
        params: DeliveryParamsSchema,
        response: { 202: AcceptedSchema, ...problemResponses },
      },
    },
    async (req, reply) => {
      await webhooks.replay(req.auth!.tid, req.params.id, req.params.deliveryId);
      return reply.code(202).send({ status: 'queued' as const });
    },
  );

  app.post(
    `${P}/:id/test`,
    {
      preHandler: requireAdmin,
      schema: {
        ...common,
        summary: 'Send a test event to this endpoint',
        description: 'A `webhook.test` CloudEvent, delivered (and retried) like any other, to this endpoint only.',
        params: WebhookParamsSchema,
        response: { 202: TestAcceptedSchema, ...problemResponses },
      },
    },
    async (req, reply) => reply.code(202).send({ status: 'queued' as const, ...(await webhooks.test(req.auth!.tid, req.params.id)) }),
  );
}
