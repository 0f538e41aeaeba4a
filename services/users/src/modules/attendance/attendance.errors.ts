/** Error codes of attendance (part of the API contract). */
import { AppError } from '@gatehouse/platform/errors';

/** Errors of attendance, by name. */
export const attendanceErrors = {
  /** Outside [startsAt − checkInEarlyMinutes, endsAt). */
  checkInClosed: (opensAt: Date, closesAt: Date) =>
    new AppError('check_in_closed', 409, {
      detail: `Check-in for this event is open from ${opensAt.toISOString()} until ${closesAt.toISOString()}.`,
    }),
  notCheckedIn: () => new AppError('not_checked_in', 409, { detail: 'This member has not checked in to this event.' }),
  /** The scanned member has no profile in the tenant (unknown, deleted, or not replicated yet). */
  userNotFound: () => new AppError('user_not_found', 404, { detail: 'The scanned member is not known in this tenant.' }),
};
