/**
 * What the auth service records about the request behind a change (sessions, events):
 * never a secret, and bounded so a huge header cannot bloat a row or an event.
 */
import type { FastifyRequest } from 'fastify';

/** Client facts of one request. */
export interface RequestContext {
  ip: string;
  userAgent: string | null;
  requestId: string;
}

const MAX_USER_AGENT = 512;

/** Reads the client IP (req.ip: trustProxy is on behind the gateway), user agent and request id. */
export function requestContext(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    ip: req.ip.slice(0, 64),
    // NUL is not storable in PostgreSQL text; control characters have no place in a log line
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    userAgent: typeof ua === 'string' && ua.length > 0 ? ua.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_USER_AGENT) : null,
    requestId: String(req.id),
  };
}

/** A context for work not caused by an HTTP request (startup, CLI). */
export function systemContext(): RequestContext {
  return { ip: '', userAgent: null, requestId: 'system' };
}
