import { AppError, errors } from '@gatehouse/platform/errors';

/** Errors of the webhook administration API. */
export const webhookErrors = {
  notFound: () => new AppError('webhook_not_found', 404, { detail: 'No such webhook endpoint in this tenant.' }),
  deliveryNotFound: () => new AppError('delivery_not_found', 404, { detail: 'No such delivery of this webhook endpoint.' }),
  badUrl: (message: string) => errors.validation([{ path: 'body.url', message }], 'The webhook URL is not valid.'),
  /** A target on loopback, private, link-local or other non-public addresses (WEBHOOK_ALLOW_PRIVATE unset). */
  targetRefused: (why: string) =>
    new AppError('webhook_target_refused', 400, {
      detail: `Webhooks may not target loopback, private, link-local or other non-public addresses (${why}).`,
      errors: [{ path: 'body.url', message: 'is not a public address' }],
    }),
  badPattern: (index: number, message: string) => errors.validation([{ path: `body.events.${index}`, message }], 'An event pattern is not valid.'),
  badCursor: () => errors.validation([{ path: 'querystring.cursor', message: 'is not a cursor returned by this endpoint' }]),
  tooMany: (max: number) => new AppError('webhook_limit_reached', 409, { detail: `A tenant may have at most ${max} webhook endpoints; delete one first.` }),
  disabled: () => new AppError('webhook_disabled', 409, { detail: 'The webhook endpoint is disabled; enable it first.' }),
};
