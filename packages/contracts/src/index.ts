/**
 * Contracts shared by services: HTTP body schemas (TypeBox, so they are JSON Schema and
 * OpenAPI at once), token claims and event payloads. No service imports another service's
 * code; they share these.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

/** Response schemas for the error statuses a route can answer with: each the one {@link ProblemSchema}. */
export function problems(...statuses: number[]): Record<number, typeof ProblemSchema> {
  const out: Record<number, typeof ProblemSchema> = {};
  for (const s of statuses) out[s] = ProblemSchema;
  return out;
}

/** The OpenAPI security requirement of a route that takes a bearer access token. */
export const bearerSecurity = [{ bearerAuth: [] }];

export const RoleSchema = Type.Union([
  Type.Literal('user'),
  Type.Literal('organizer'),
  Type.Literal('admin'),
  Type.Literal('superadmin'),
]);
export type Role = Static<typeof RoleSchema>;

export const UserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  tenantId: Type.String({ format: 'uuid' }),
  email: Type.String(),
  emailVerified: Type.Boolean(),
  username: Type.Union([Type.String(), Type.Null()]),
  displayName: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(Type.String()),
  mfaEnabled: Type.Boolean(),
  disabled: Type.Optional(Type.Boolean()),
  createdAt: Type.String({ format: 'date-time' }),
  lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type User = Static<typeof UserSchema>;

export const TokenResponseSchema = Type.Object({
  tokenType: Type.Literal('Bearer'),
  accessToken: Type.String(),
  expiresIn: Type.Integer(),
  refreshToken: Type.Optional(Type.String()),
  refreshExpiresIn: Type.Integer(),
  user: UserSchema,
});
export type TokenResponse = Static<typeof TokenResponseSchema>;

// ---- Event payloads (CloudEvent `data`) -------------------------------------------------------
// Validated where they are consumed (the users replica, the audit ingest); a payload that does
// not match is parked as a dead letter there, never applied and never retried.

const OptionalText = Type.Optional(Type.Union([Type.String(), Type.Null()]));

/**
 * The request context every event may carry (who acted, from where): what the audit log
 * records beside the event. Each is optional; present, it is text (or null).
 */
export const EventContextSchema = Type.Object({
  actorId: OptionalText,
  userId: OptionalText,
  ip: OptionalText,
  userAgent: OptionalText,
  requestId: OptionalText,
});

/** Data of `user.events.created|updated|deleted`. */
export const UserEventDataSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  username: Type.Union([Type.String(), Type.Null()]),
  displayName: OptionalText,
  roles: Type.Optional(Type.Array(Type.String())),
  action: Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('deleted')]),
});
export type UserEventData = Static<typeof UserEventDataSchema>;

/** Data of `auth.events.*`: never a secret. Other fields depend on the event. */
export interface AuthEventData {
  userId?: string;
  sessionId?: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  reason?: string;
  [key: string]: unknown;
}

/** Data of `tenant.events.created|updated`. */
export const TenantEventDataSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  action: Type.Union([Type.Literal('created'), Type.Literal('updated')]),
  /** who made the change (a superadmin's user id); absent for the CLI */
  actorId: Type.Optional(Type.String()),
  /** which of name, status, settings changed (updated only) */
  changes: Type.Optional(Type.Array(Type.Union([Type.Literal('name'), Type.Literal('status'), Type.Literal('settings')]))),
  /** sessions revoked because the tenant was disabled */
  sessionsRevoked: Type.Optional(Type.Integer()),
  ip: Type.Optional(Type.String()),
  userAgent: Type.Optional(Type.String()),
  requestId: Type.Optional(Type.String()),
});
export type TenantEventData = Static<typeof TenantEventDataSchema>;

/**
 * Why `data` does not match `schema` (the first mismatches, as `/path: message`), or
 * undefined when it does. For consumers: a mismatch is a dead letter, not a retry.
 */
export function payloadProblem(schema: TSchema, data: unknown): string | undefined {
  // compiled once per schema (TypeBox's Compile: generated code instead of walking the schema
  // at every event; every consumer checks every event it receives)
  let validator = validators.get(schema);
  if (!validator) validators.set(schema, (validator = Compile(schema)));
  if (validator.Check(data)) return undefined;
  const errors = validator.Errors(data).slice(0, 3).map((e) => `${e.instancePath || '/'}: ${e.message}`);
  return `data does not match the event contract (${errors.join('; ')})`;
}
const validators = new WeakMap<TSchema, Validator>();

/** Subjects (CloudEvent types) Gatehouse publishes. */
export const EventTypes = {
  userCreated: 'user.events.created',
  userUpdated: 'user.events.updated',
  userDeleted: 'user.events.deleted',
  tenantCreated: 'tenant.events.created',
  tenantUpdated: 'tenant.events.updated',
  profileUpdated: 'profile.events.updated',
  checkedIn: 'attendance.events.checked_in',
  checkedOut: 'attendance.events.checked_out',
  auth: (name: string) => `auth.events.${name}`,
  social: (type: string) => `social.events.${type}`,
} as const;

/** List wrapper used by every paginated endpoint. */
export const ListOf = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

/** The id of the tenant every deployment starts with (slug `default`). */
export const DEFAULT_TENANT_ID = '00000000-0000-4000-8000-000000000001';
