/**
 * The hash of one audit entry: `SHA-256(prevHash ‖ JCS(fields))`, hex. JCS is RFC 8785
 * canonical JSON (the `canonicalize` package), so any verifier in any language that has the
 * fields can recompute it byte for byte.
 */
import canonicalize from 'canonicalize';
import { sha256 } from '@gatehouse/platform/crypto';

/** prevHash of the first entry of every tenant's chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The fields an entry's hash covers, exactly as stored: the one declaration of them. An
 * AuditEntry has them under the same names, so an entry (or anything with these fields)
 * can be hashed directly; other fields are left out.
 */
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

/** Every key of {@link HashedFields}: `satisfies` refuses another key, `_complete` a missing one. */
const HASHED_KEYS = ['seq', 'tenantId', 'type', 'actorId', 'subjectId', 'ip', 'userAgent', 'requestId', 'data', 'occurredAt', 'eventId'] as const satisfies ReadonlyArray<keyof HashedFields>;
type Missing = Exclude<keyof HashedFields, (typeof HASHED_KEYS)[number]>;
const _complete: [Missing] extends [never] ? true : Missing = true;

/** Computes the hash of an entry from its predecessor's hash and its own fields. */
export function entryHash(prevHash: string, f: HashedFields): string {
  // JCS sorts keys, so only which fields go in matters, not their order
  const canonical = canonicalize(Object.fromEntries(HASHED_KEYS.map((k) => [k, f[k]])));
  if (canonical === undefined) throw new Error('entry fields cannot be canonicalised');
  return sha256(prevHash + canonical);
}
