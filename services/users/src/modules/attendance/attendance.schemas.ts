/** HTTP schemas of attendance. */
import { Type, type Static } from 'typebox';
import { nullableString } from '../../common';

/** Attendance as the API shows it. */
export const AttendanceSchema = Type.Object(
  {
    eventId: Type.String({ format: 'uuid' }),
    userId: Type.String({ format: 'uuid' }),
    status: Type.Union([Type.Literal('present'), Type.Literal('late')]),
    checkedInAt: Type.String({ format: 'date-time' }),
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
