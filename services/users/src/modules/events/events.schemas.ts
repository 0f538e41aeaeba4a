/** HTTP schemas of events (meetings, classes). */
import { Type, type Static } from 'typebox';
import { MULTI_LINE, ONE_LINE, nullableString } from '../../common';

/** Default grace period after `startsAt` before a check-in counts as late. */
export const DEFAULT_LATE_AFTER_MINUTES = 10;

const title = Type.String({ minLength: 1, maxLength: 200, pattern: ONE_LINE });
const description = nullableString({ maxLength: 5000, pattern: MULTI_LINE });
const location = nullableString({ maxLength: 200, pattern: ONE_LINE });
const lateAfterMinutes = Type.Integer({
  minimum: 0,
  maximum: 10080,
  description: 'a check-in at or after startsAt + this many minutes is "late"',
});

/** An event as the API shows it. */
export const EventSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    title: Type.String(),
    description: nullableString({ maxLength: 5000 }),
    location: nullableString({ maxLength: 200 }),
    startsAt: Type.String({ format: 'date-time' }),
    endsAt: Type.String({ format: 'date-time' }),
    lateAfterMinutes: Type.Integer(),
    createdBy: Type.String({ format: 'uuid' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'An event (meeting, class) members check in to' },
);
export type Event = Static<typeof EventSchema>;

/** Body of POST /events. */
export const EventCreateSchema = Type.Object(
  {
    title,
    description: Type.Optional(description),
    location: Type.Optional(location),
    startsAt: Type.String({ format: 'date-time' }),
    endsAt: Type.String({ format: 'date-time', description: 'after startsAt' }),
    lateAfterMinutes: Type.Optional({ ...lateAfterMinutes, default: DEFAULT_LATE_AFTER_MINUTES }),
  },
  { additionalProperties: false },
);
export type EventCreate = Static<typeof EventCreateSchema>;

/** Body of PATCH /events/{id}. */
export const EventPatchSchema = Type.Object(
  {
    title: Type.Optional(title),
    description: Type.Optional(description),
    location: Type.Optional(location),
    startsAt: Type.Optional(Type.String({ format: 'date-time' })),
    endsAt: Type.Optional(Type.String({ format: 'date-time' })),
    lateAfterMinutes: Type.Optional(lateAfterMinutes),
  },
  { additionalProperties: false, description: 'Fields to change; statuses of check-ins already made stay as they were' },
);
export type EventPatch = Static<typeof EventPatchSchema>;

/** Query of GET /events. */
export const EventListQuery = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time', description: 'only events ending after this' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'only events starting before this' })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

/** A page of events. */
export const EventListSchema = Type.Object({
  items: Type.Array(EventSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
