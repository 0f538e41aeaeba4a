/** The CloudEvents envelope: the event type, its validation and NATS subject matching. */
import { randomUUID } from 'node:crypto';
import { currentTraceparent } from '../tracing';

/** A CloudEvents 1.0 envelope (structured JSON mode) with the `tenantid` extension. */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  tenantid: string;
  datacontenttype: 'application/json';
  data: T;
  /** W3C trace context of the code that made the event (CloudEvents distributed-tracing extension) */
  traceparent?: string;
}

/**
 * The subject families the event stream carries. An event's `type` is its NATS subject, so
 * `makeEvent` refuses any type outside these: such an event would be rejected by the stream
 * and would block the outbox relay forever.
 */
export const EVENT_SUBJECTS = [
  'user.events.>',
  'auth.events.>',
  'profile.events.>',
  'attendance.events.>',
  'social.events.>',
  'tenant.events.>',
  'application.events.>',
  'oauth.events.>',
] as const;

// NATS subject tokens: no wildcards, whitespace or empty tokens.
export const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * True when `subject` matches the NATS subject `pattern` (`*` matches one token, `>` one or
 * more trailing tokens).
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === '>') return s.length > i;
    if (i >= s.length) return false;
    if (tok !== '*' && tok !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Build an event with a fresh UUID id and the current time unless given. */
export function makeEvent<T>(e: {
  source: string;
  type: string;
  tenantId: string;
  subject?: string;
  data: T;
  id?: string;
  time?: Date;
}): CloudEvent<T> {
  if (!SUBJECT_RE.test(e.type) || !EVENT_SUBJECTS.some((p) => subjectMatches(p, e.type))) {
    throw new Error(`event type "${e.type}" is not a subject of the event stream`);
  }
  if (!e.source) throw new Error('event source is required');
  if (!e.tenantId) throw new Error('event tenantId is required');
  const event: CloudEvent<T> = {
    specversion: '1.0',
    id: e.id ?? randomUUID(),
    source: e.source,
    type: e.type,
    time: (e.time ?? new Date()).toISOString(),
    tenantid: e.tenantId,
    datacontenttype: 'application/json',
    data: e.data,
  };
  if (e.subject !== undefined) event.subject = e.subject;
  // the outbox relay and every consumer continue this trace (absent when tracing is off)
  const traceparent = currentTraceparent();
  if (traceparent) event.traceparent = traceparent;
  return event;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Validates the required CloudEvents attributes (and our `tenantid` extension). */
export function isCloudEvent(x: unknown): x is CloudEvent {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const e = x as Record<string, unknown>;
  return (
    e.specversion === '1.0' &&
    nonEmpty(e.id) &&
    nonEmpty(e.source) &&
    nonEmpty(e.type) &&
    nonEmpty(e.tenantid) &&
    nonEmpty(e.time) &&
    !Number.isNaN(Date.parse(e.time)) &&
    e.datacontenttype === 'application/json' &&
    'data' in e &&
    (e.subject === undefined || typeof e.subject === 'string')
  );
}
