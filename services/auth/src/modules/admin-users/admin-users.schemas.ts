import { Type } from 'typebox';
import { ListOf, UserSchema } from '@gatehouse/contracts';

export const AdminUserListQuerySchema = Type.Object(
  {
    query: Type.Optional(Type.String({ maxLength: 254, description: 'substring of the email or username, case-insensitive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);

export const AdminUserListSchema = ListOf(UserSchema);

export const AdminUserParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const AdminUserPatchSchema = Type.Object(
  {
    disabled: Type.Optional(Type.Boolean({ description: 'disabling revokes every session of the user at once' })),
    roles: Type.Optional(
      Type.Array(Type.Union([Type.Literal('user'), Type.Literal('organizer'), Type.Literal('admin'), Type.Literal('superadmin')]), {
        maxItems: 4,
        uniqueItems: true,
        description:
          'the full role list (`user` is always kept). Only a superadmin grants or removes superadmin. Access tokens carry the new roles from the next refresh (at most the access-token lifetime).',
      }),
    ),
    emailVerified: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
