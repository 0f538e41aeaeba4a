import { Type } from 'typebox';
import { DisplayNameSchema, EmailSchema, PasswordInputSchema, UsernameSchema } from '../auth/auth.schemas';

export const MePatchSchema = Type.Object(
  {
    username: Type.Optional(Type.Union([UsernameSchema, Type.Null()], { description: 'unique in the tenant, case-insensitively; null removes it' })),
    displayName: Type.Optional(Type.Union([DisplayNameSchema, Type.Null()])),
  },
  { additionalProperties: false },
);

export const EmailChangeSchema = Type.Object({ newEmail: EmailSchema, password: PasswordInputSchema }, { additionalProperties: false });

export const EmailChangeConfirmSchema = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const DeleteMeSchema = Type.Union(
  [
    Type.Object(
      { password: Type.Optional(PasswordInputSchema) },
      {
        additionalProperties: false,
        description:
          'The password; accounts without one (social sign-in, passkeys) omit it and confirm with a fresh second factor: an access token from a sign-in with a second factor (amr otp, hwk, oauth) at most 5 minutes old.',
      },
    ),
    Type.Null(),
  ],
);
