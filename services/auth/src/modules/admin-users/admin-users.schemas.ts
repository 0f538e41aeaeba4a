import { Type } from 'typebox';
import { ListOf, UserSchema } from '@gatehouse/contracts';
import { RoleNameSchema } from '../roles/roles.schemas';
import { DisplayNameSchema, EmailSchema, UsernameSchema } from '../auth/auth.schemas';

export const AdminUserListQuerySchema = Type.Object(
  {
    query: Type.Optional(Type.String({ maxLength: 254, description: 'substring of the email or username, case-insensitive' })),
    match: Type.Optional(
      Type.Union([Type.Literal('contains'), Type.Literal('prefix')], {
        description: 'where `query` must occur: anywhere (contains, the default) or at the start of the email or username (prefix; served by an index however many users the tenant has)',
      }),
    ),
    role: Type.Optional(Type.String({ maxLength: 63, description: 'only users holding this role (built-in or custom)' })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')], { description: 'only enabled or only disabled users' })),
    verified: Type.Optional(Type.Boolean({ description: 'only users whose email is (true) or is not (false) verified' })),
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
