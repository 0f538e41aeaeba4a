import { Type } from 'typebox';
import { ListOf } from '@gatehouse/contracts';

const Id = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const WebhookParamsSchema = Type.Object({ id: Id });
export const DeliveryParamsSchema = Type.Object({ id: Id, deliveryId: Id });

const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL; loopback, private and link-local targets are refused unless WEBHOOK_ALLOW_PRIVATE=true' });
const Events = Type.Array(Type.String({ minLength: 1, maxLength: 200, description: 'NATS subject pattern: `user.events.*`, `auth.events.>`' }), {
  minItems: 1,
  maxItems: 50,
  description: 'the event types (subject patterns) this endpoint receives',
});
const Description = Nullable(Type.String({ maxLength: 500 }));

export const WebhookCreateBodySchema = Type.Object(
  { url: Url, events: Events, description: Type.Optional(Description), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, examples: [{ url: 'https://hooks.example.com/gatehouse', events: ['user.events.*', 'auth.events.login_failed'], description: 'CRM sync' }] },
);

export const WebhookPatchBodySchema = Type.Object(
  { url: Type.Optional(Url), events: Type.Optional(Events), description: Type.Optional(Description), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1, examples: [{ disabled: false }] },
);

const WebhookProperties = {
  id: Id,
  url: Type.String(),
  description: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  disabled: Type.Boolean(),
  disabledAt: Nullable(Time),
  disabledReason: Nullable(Type.String({ description: 'admin, or failures (disabled by the delivery worker)' })),
  consecutiveFailures: Type.Integer({ description: 'failed attempts in a row (0 after a success)' }),
  createdAt: Time,
  updatedAt: Time,
};

export const WebhookSchema = Type.Object(WebhookProperties);

export const WebhookCreatedSchema = Type.Object({
  ...WebhookProperties,
  secret: Type.String({ description: 'the signing secret (`whsec_…`), shown this once' }),
});

export const WebhookListSchema = ListOf(WebhookSchema);

export const ListQuerySchema = Type.Object(
  { cursor: Type.Optional(Type.String({ maxLength: 512 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) },
  { additionalProperties: false },
);

const Status = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]);

const DeliveryProperties = {
  id: Id,
  eventId: Type.String({ description: 'the CloudEvent id, sent as webhook-id on every attempt' }),
  eventType: Type.String(),
  attempt: Type.Integer({ description: 'attempts made so far' }),
  status: Status,
  responseStatus: Nullable(Type.Integer()),
  responseExcerpt: Nullable(Type.String({ description: 'the first 512 bytes of the last response body' })),
  error: Nullable(Type.String({ description: 'why the last attempt failed' })),
  nextAttemptAt: Nullable(Time),
  createdAt: Time,
  updatedAt: Time,
};

export const DeliverySchema = Type.Object(DeliveryProperties);

export const DeliveryListSchema = ListOf(DeliverySchema);

export const DeliveryDetailSchema = Type.Object({
  ...DeliveryProperties,
  attempts: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
      startedAt: Time,
      durationMs: Type.Integer(),
      responseStatus: Nullable(Type.Integer()),
      responseExcerpt: Nullable(Type.String()),
      error: Nullable(Type.String()),
    }),
  ),
});

export const AcceptedSchema = Type.Object({ status: Type.Literal('queued') });
export const TestAcceptedSchema = Type.Object({ status: Type.Literal('queued'), eventId: Type.String() });
