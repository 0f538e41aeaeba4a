/**
 * The hash of one audit entry: `SHA-256(prevHash ‖ JCS(fields))`, hex. JCS is RFC 8785
 * canonical JSON (the `canonicalize` package), so any verifier in any language that has the
 * fields can recompute it byte for byte.
 */
import canonicalize from 'canonicalize';
import { sha256 } from '@gatehouse/platform/crypto';

/** prevHash of the first entry of every tenant's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields an entry's hash covers, exactly as stored. */
export interface HashedFields {
  seq: number;
  tenantId: string;
  type: string;
  actorId: string | null;
  subjectId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
  /** RFC 3339 with milliseconds, UTC (`Date.prototype.toISOString`) */
  occurredAt: string;
  eventId: string;
}

/** Computes the hash of an entry from its predecessor's hash and its own fields. */
export function entryHash(prevHash: string, f: HashedFields): string {
  const canonical = canonicalize({
    seq: f.seq,
    tenantId: f.tenantId,
    type: f.type,
    actorId: f.actorId,
    subjectId: f.subjectId,
    ip: f.ip,
    userAgent: f.userAgent,
    requestId: f.requestId,
    data: f.data,
    occurredAt: f.occurredAt,
    eventId: f.eventId,
  });
  if (canonical === undefined) throw new Error('entry fields cannot be canonicalised');
  return sha256(prevHash + canonical);
}
