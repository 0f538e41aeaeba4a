/** The AuditEntry shape (API.md "Audit and social log"), shared by every route that returns entries. */
import { Type, type Static } from 'typebox';

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const AuditEntrySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    seq: Type.Integer({ minimum: 1, description: 'position in the tenant chain, gapless from 1' }),
    tenantId: Type.String({ format: 'uuid' }),
    type: Type.String({ description: 'CloudEvent type, e.g. auth.events.login_failed or social.events.post.liked' }),
    actorId: NullableString,
    subjectId: NullableString,
    ip: NullableString,
    userAgent: NullableString,
    requestId: NullableString,
    eventId: Type.String({ description: 'the CloudEvent id the entry was made from (unique)' }),
    data: Type.Object({}, { additionalProperties: true, description: 'event data, secret-looking keys removed' }),
    occurredAt: Type.String({ format: 'date-time' }),
    recordedAt: Type.String({ format: 'date-time' }),
    hash: Type.String({ description: 'hex SHA-256(prevHash ‖ RFC 8785 JSON of the hashed fields)' }),
    prevHash: Type.String({ description: 'hash of the previous entry; 64 zeros for seq 1' }),
  },
  { $id: 'AuditEntry' },
);
/** An entry as the API returns it (`data` is any JSON object). */
export type AuditEntry = Omit<Static<typeof AuditEntrySchema>, 'data'> & { data: Record<string, unknown> };
