/** Error codes of events (meetings, classes) — part of the API contract. */
import { AppError } from '@gatehouse/platform/errors';

/** Errors of events, by name. */
export const eventErrors = {
  eventNotFound: () => new AppError('event_not_found', 404, { detail: 'No such event in this tenant.' }),
  notOrganizer: () => new AppError('forbidden', 403, { detail: 'Only the event’s organizer or an admin can change it.' }),
  invalidTimes: () =>
    new AppError('validation_failed', 400, {
      detail: 'The request is not valid.',
      errors: [{ path: 'body.endsAt', message: 'must be after startsAt' }],
    }),
};
