import { Type } from 'typebox';
import { TokenResponseSchema } from '@gatehouse/contracts';

/** What a first factor answers when a second one is needed (or must first be enrolled). */
export const MfaChallengeSchema = Type.Object(
  {
    mfaRequired: Type.Literal(true),
    mfaToken: Type.String({ description: 'opaque, single use, valid 5 minutes; never an access token' }),
    methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('backup_code'), Type.Literal('passkey')]), {
      description: '`totp`/`backup_code`: complete at POST /login/mfa. `passkey`: sign in with the passkey instead. Empty with enrollmentRequired.',
    }),
    enrollmentRequired: Type.Optional(
      Type.Boolean({ description: 'the tenant requires MFA and the account has none: use mfaToken as the bearer of POST /mfa/totp/setup and /mfa/totp/confirm' }),
    ),
    expiresIn: Type.Integer({ description: 'seconds the mfaToken stays valid' }),
  },
  { $id: 'MfaChallenge' },
);

/** A login answer: tokens, or the second-factor challenge. */
export const LoginResultSchema = Type.Union([TokenResponseSchema, MfaChallengeSchema]);

const Code = Type.String({ minLength: 1, maxLength: 16, description: 'the 6-digit TOTP code' });
const BackupCode = Type.String({ minLength: 1, maxLength: 32, description: 'a backup code (dashes and spaces ignored, any case)' });
const MfaToken = Type.String({ minLength: 1, maxLength: 128 });

export const LoginMfaBodySchema = Type.Union([
  Type.Object({ mfaToken: MfaToken, code: Code }, { additionalProperties: false }),
  Type.Object({ mfaToken: MfaToken, backupCode: BackupCode }, { additionalProperties: false }),
]);

export const TotpSetupSchema = Type.Object({
  secret: Type.String({ description: 'base32, 160 bits' }),
  otpauthUri: Type.String(),
  qrCodeSvg: Type.String({ description: 'the otpauth URI as an SVG QR code' }),
});

export const TotpConfirmBodySchema = Type.Object({ code: Code }, { additionalProperties: false });

export const BackupCodesSchema = Type.Object({
  backupCodes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }),
  tokens: Type.Optional(Type.Union([TokenResponseSchema], { description: 'only when confirmed with an enrollment mfaToken: the sign-in it completes' })),
});

export const PasswordBodySchema = Type.Object({ password: Type.String({ maxLength: 1024 }) }, { additionalProperties: false });
