/** Error codes of the proxy. */
import { AppError } from '@gatehouse/platform';

export const proxyErrors = {
  /** the service owning this area is not configured (AUTH_URL, USERS_URL or AUDIT_URL unset) */
  serviceUnavailable: (area: string) =>
    new AppError('service_unavailable', 503, {
      detail: `The ${area} service is not available in this deployment.`,
      headers: { 'retry-after': '30' },
    }),
  /** the service is configured but did not answer (refused, reset, timed out) */
  upstreamUnavailable: (area: string, status: 502 | 503 | 504) =>
    new AppError('upstream_unavailable', status, {
      detail:
        status === 504
          ? `The ${area} service did not answer in time; try again shortly.`
          : `The ${area} service could not be reached; try again shortly.`,
      headers: status === 503 ? { 'retry-after': '5' } : undefined,
    }),
  /** a body over the route's limit (BODY_LIMIT_BYTES; the avatar upload's own) */
  payloadTooLarge: () => new AppError('payload_too_large', 413, { detail: 'The request body is too large.' }),
  /** a path the gateway refuses to forward (dot segments, backslashes, empty segments, bad escapes) */
  badPath: () => new AppError('bad_request', 400, { detail: 'The request path is not valid.' }),
};
