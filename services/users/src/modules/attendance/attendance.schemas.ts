/** HTTP schemas of attendance. */
import { Type, type Static } from 'typebox';
import { nullableString } from '../../common';

/** Attendance as the API shows it. */
export const AttendanceSchema = Type.Object(
  {
    eventId: Type.String({ format: 'uuid' }),
    userId: Type.String({ format: 'uuid' }),
    status: Type.Union([Type.Literal('present'), Type.Literal('late'), Type.Literal('absent')], {
      description: '`absent` (event reports only): a member on the event\'s roster who has not checked in',
    }),
    checkedInAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'null for `absent`' }),
    expected: Type.Optional(Type.Boolean({ description: 'in event reports: the member is on the event\'s roster' })),
    checkedOutAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    username: Type.Optional(nullableString({ maxLength: 256, description: 'in event lists' })),
    displayName: Type.Optional(nullableString({ maxLength: 200, description: 'in event lists' })),
    eventTitle: Type.Optional(Type.String({ description: 'in a member’s own list' })),
    eventStartsAt: Type.Optional(Type.String({ format: 'date-time', description: 'in a member’s own list' })),
  },
  { description: 'A member’s attendance at an event' },
);
/** Attendance as the API shows it. */
export type Attendance = Static<typeof AttendanceSchema>;

/** Body of a check-in or check-out: the scanned token. */
export const ScanBody = Type.Object(
  { qrToken: Type.String({ minLength: 1, maxLength: 512, description: 'the token read from the member’s QR code' }) },
  { additionalProperties: false },
);

/** An event's attendance (complete, not paginated: the CSV export needs all of it). */
export const EventAttendanceList = Type.Object({ items: Type.Array(AttendanceSchema) });

/** Query of the caller's own attendance list. */
export const MyAttendanceQuery = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

/** A page of the caller's own attendance. */
export const MyAttendanceList = Type.Object({
  items: Type.Array(AttendanceSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/** `PUT /events/{id}/roster`: the members the event expects (replaces the roster). */
export const RosterBody = Type.Object(
  { userIds: Type.Array(Type.String({ format: 'uuid' }), { maxItems: 5000, uniqueItems: true, description: 'members of the tenant (user ids); an empty list clears the roster' }) },
  { additionalProperties: false },
);

/** An event's roster. */
export const RosterSchema = Type.Object({
  eventId: Type.String({ format: 'uuid' }),
  items: Type.Array(
    Type.Object({
      userId: Type.String({ format: 'uuid' }),
      username: nullableString({ maxLength: 256 }),
      displayName: nullableString({ maxLength: 200 }),
    }),
  ),
});
export type Roster = Static<typeof RosterSchema>;
