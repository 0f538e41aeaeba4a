/** Error codes of the social log. */
import { AppError, errors } from '@gatehouse/platform/errors';

export const socialErrors = {
  dataTooLarge: (maxBytes: number) =>
    errors.validation([{ path: 'body.data', message: `must be at most ${maxBytes} bytes as JSON` }]),
  rateLimited: (limit: number, resetMs: number) => {
    const resetSec = Math.max(1, Math.ceil(resetMs / 1000));
    return new AppError('rate_limited', 429, {
      detail: 'Too many social-log entries; slow down.',
      headers: {
        'retry-after': String(resetSec),
        'ratelimit-limit': String(limit),
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(resetSec),
      },
    });
  },
};
