import { Type } from 'typebox';

/** Emails: bounded, one address, no whitespace or control characters (format checked by ajv-formats). */
export const EmailSchema = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
/**
 * Passwords: any Unicode; the bound here only stops absurd bodies before hashing, the policy
 * (8..256 code points) answers `weak_password` with the rule.
 */
export const NewPasswordSchema = Type.String({ minLength: 1, maxLength: 1024 });
/** A password being checked: may be empty (an empty password is just a wrong one). */
export const PasswordInputSchema = Type.String({ maxLength: 1024 });
export const UsernameSchema = Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
/** Display names: any script, emoji included; no control characters and no bidi overrides (spoofing). */
export const DisplayNameSchema = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]+$' });

export const RegisterBodySchema = Type.Object(
  {
    email: EmailSchema,
    password: NewPasswordSchema,
    username: Type.Optional(UsernameSchema),
    displayName: Type.Optional(DisplayNameSchema),
  },
  { additionalProperties: false },
);

export const LoginBodySchema = Type.Object(
  {
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    password: PasswordInputSchema,
  },
  { additionalProperties: false, description: 'The email or the username, and the password.' },
);

/** Optional body: absent in cookie mode. */
export const RefreshBodySchema = Type.Union([
  Type.Object({ refreshToken: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false }),
  Type.Null(),
]);

/** Endpoints that take no body accept none, `{}` or null. */
export const EmptyBodySchema = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

export const CookieModeQuerySchema = Type.Object(
  {
    mode: Type.Optional(
      Type.Union([Type.Literal('cookie'), Type.Literal('body')], {
        description: '`cookie`: the refresh token travels only in an HttpOnly cookie scoped to /api/v1/auth, not in the body',
      }),
    ),
  },
  { additionalProperties: false },
);
