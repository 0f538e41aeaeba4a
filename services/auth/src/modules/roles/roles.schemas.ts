import { Type, type Static } from 'typebox';

/** A custom role's name: lower case, starts with a letter (e.g. `editor`, `billing.viewer`). */
export const RoleNameSchema = Type.String({ pattern: '^[a-z][a-z0-9_.:-]{0,62}$', description: 'lower case letters, digits and _ . : -, starting with a letter; at most 63' });

/** A permission string, e.g. `events:write` or `reports.read`. */
export const PermissionSchema = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.:*/-]{0,99}$', description: 'e.g. `events:write`; letters, digits and _ . : * / -' });

const Permissions = Type.Array(PermissionSchema, { maxItems: 100, uniqueItems: true, description: 'what the role allows; access tokens carry the union over the user\'s roles as `permissions`' });

export const RoleSchema = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  permissions: Type.Array(Type.String()),
  builtin: Type.Boolean({ description: 'user, organizer, admin and superadmin are built in: fixed, with no permissions, never changed or deleted' }),
  createdAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type Role = Static<typeof RoleSchema>;

export const RoleListSchema = Type.Object({ items: Type.Array(RoleSchema) });

export const RoleCreateSchema = Type.Object(
  {
    name: RoleNameSchema,
    description: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
    permissions: Permissions,
  },
  { additionalProperties: false },
);

export const RolePatchSchema = Type.Object(
  {
    description: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
    permissions: Type.Optional(Permissions),
  },
  { additionalProperties: false },
);

export const RoleParamsSchema = Type.Object({ name: Type.String({ maxLength: 63 }) });
