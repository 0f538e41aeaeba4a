import { Type } from 'typebox';
import { ListOf, UserSchema } from '@gatehouse/contracts';
import { RoleNameSchema } from '../roles/roles.schemas';
import { DisplayNameSchema, EmailSchema, UsernameSchema } from '../auth/auth.schemas';

export const AdminUserListQuerySchema = Type.Object(
  {
    query: Type.Optional(
      Type.String({
        maxLength: 254,
        description: 'text to find in the email or username (not the display name), case-insensitive, trimmed; where it must occur: `match`',
      }),
    ),
    match: Type.Optional(
      Type.Union([Type.Literal('contains'), Type.Literal('prefix')], {
        default: 'contains',
        description:
          'where `query` must occur. `prefix`: at the start of the email or username, served by the indexes on the lowercased email and username, so its cost follows the number of users whose email or username starts with `query`, not the size of the tenant (use it for search-as-you-type and large tenants). `contains` (the default, kept for compatibility): anywhere in them; no index can serve it, so it reads the tenant\'s users until a page is full, all of them when few match (seconds at hundreds of thousands of users).',
      }),
    ),
    role: Type.Optional(Type.String({ maxLength: 63, description: 'only users holding this role (built-in or custom); a filter on the users read, not indexed' })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')], { description: 'only enabled or only disabled users; a filter on the users read, not indexed' })),
    verified: Type.Optional(Type.Boolean({ description: 'only users whose email is (true) or is not (false) verified; a filter on the users read, not indexed' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);

export const AdminUserListSchema = ListOf(UserSchema);

export const AdminUserParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const AdminUserSessionParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }), sid: Type.String({ format: 'uuid' }) });

export const AdminUserPatchSchema = Type.Object(
  {
    disabled: Type.Optional(Type.Boolean({ description: 'disabling revokes every session of the user at once' })),
    roles: Type.Optional(
      Type.Array(RoleNameSchema, {
        maxItems: 50,
        uniqueItems: true,
        description:
          'the full role list: built-in roles and the tenant\'s custom roles (`user` is always kept; an unknown name is 400). Only a superadmin grants or removes superadmin. The user\'s access tokens are cut within a second; the next refresh carries the new roles and permissions.',
      }),
    ),
    emailVerified: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const AdminUserCreateSchema = Type.Object(
  {
    email: EmailSchema,
    username: Type.Optional(UsernameSchema),
    displayName: Type.Optional(DisplayNameSchema),
    roles: Type.Optional(Type.Array(RoleNameSchema, { maxItems: 50, uniqueItems: true, description: 'built-in and custom role names; `user` is always added' })),
    password: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'omit to invite: the user gets an email with a single-use set-password link valid 72 hours' }),
    ),
  },
  { additionalProperties: false },
);
