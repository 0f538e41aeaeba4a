import { Type } from 'typebox';
import { EmailSchema, NewPasswordSchema, PasswordInputSchema } from '../auth/auth.schemas';

/** Reset and verification tokens are 43 base64url characters; the bound only stops junk. */
const OneTimeTokenSchema = Type.String({ minLength: 1, maxLength: 256 });

export const ChangePasswordBodySchema = Type.Object(
  { currentPassword: PasswordInputSchema, newPassword: NewPasswordSchema },
  { additionalProperties: false },
);
export const ForgotPasswordBodySchema = Type.Object({ email: EmailSchema }, { additionalProperties: false });
export const ResetPasswordBodySchema = Type.Object({ token: OneTimeTokenSchema, newPassword: NewPasswordSchema }, { additionalProperties: false });
export const VerifyEmailBodySchema = Type.Object({ token: OneTimeTokenSchema }, { additionalProperties: false });
