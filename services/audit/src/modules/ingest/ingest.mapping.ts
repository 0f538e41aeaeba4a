/**
 * How a CloudEvent becomes an audit entry (who, what, when, where), and why one cannot.
 */
import { EventContextSchema, payloadProblem } from '@gatehouse/contracts';
import { isCloudEvent, type CloudEvent } from '@gatehouse/platform/events';
import { isUuid } from '@gatehouse/platform/formats';
import { cleanString, cleanText, sanitizeData } from '../chain/chain.sanitize';
import type { AppendInput } from '../chain/chain.service';

const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** An event mapped to its tenant and entry, or the reason it is parked as a dead letter. */
export type Mapped = { ok: true; tenantId: string; input: AppendInput } | { ok: false; reason: string };

function pick(data: unknown, key: string): unknown {
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>)[key] : undefined;
}

/**
 * Maps an event: type = CloudEvent type; actor = data.actorId ?? data.userId ?? subject;
 * subject = CloudEvent subject; ip, userAgent, requestId from data; occurredAt = event time;
 * data = event data without secret-looking keys.
 */
export function mapEvent(raw: unknown): Mapped {
  if (!isCloudEvent(raw)) return { ok: false, reason: 'not a CloudEvent 1.0 (missing or malformed required attributes)' };
  const event = raw as CloudEvent;
  if (!isUuid(event.tenantid)) return { ok: false, reason: `unknown tenant: tenantid "${event.tenantid.slice(0, 64)}" is not a UUID` };
  if (event.id.length > 200 || cleanString(event.id, 200) !== event.id) {
    return { ok: false, reason: 'event id is not a usable identifier (over 200 characters or not valid text)' };
  }
  if (event.type.length > 255 || !SUBJECT.test(event.type)) return { ok: false, reason: 'event type is not a subject name' };
  const occurredAt = new Date(event.time);
  if (Number.isNaN(occurredAt.getTime())) return { ok: false, reason: 'event time is not a date' };
  const data = event.data;
  // the request context the entry records (actor, ip, user agent, request id) follows the contract
  const problem = payloadProblem(EventContextSchema, data ?? {});
  if (problem) return { ok: false, reason: problem };
  const subjectId = cleanText(event.subject, 200);
  return {
    ok: true,
    tenantId: event.tenantid.toLowerCase(),
    input: {
      eventId: event.id,
      type: event.type,
      actorId: cleanText(pick(data, 'actorId'), 200) ?? cleanText(pick(data, 'userId'), 200) ?? subjectId,
      subjectId,
      ip: cleanText(pick(data, 'ip'), 64),
      userAgent: cleanText(pick(data, 'userAgent'), 512),
      requestId: cleanText(pick(data, 'requestId'), 128),
      data: sanitizeData(data),
      occurredAt,
    },
  };
}
