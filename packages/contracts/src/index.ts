/**
 * Contracts shared by services: HTTP body schemas (TypeBox, so they are JSON Schema and
 * OpenAPI at once), token claims and event payloads. No service imports another service's
 * code; they share these.
 */
import { Type, type Static } from 'typebox';

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

/** Data of `user.events.created|updated|deleted`. */
export interface UserEventData {
  id: string;
  email: string;
  username: string | null;
  displayName?: string | null;
  roles?: string[];
  action: 'created' | 'updated' | 'deleted';
}

/** Data of `auth.events.*`: never a secret. */
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
export interface TenantEventData {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'disabled';
  action: 'created' | 'updated';
  /** who made the change (a superadmin's user id); absent for the CLI */
  actorId?: string;
  /** which of name, status, settings changed (updated only) */
  changes?: Array<'name' | 'status' | 'settings'>;
  /** sessions revoked because the tenant was disabled */
  sessionsRevoked?: number;
  ip?: string;
  userAgent?: string;
  requestId?: string;
}

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
