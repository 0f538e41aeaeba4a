import { Type } from 'typebox';

/** A public JWK as published (RSA: n/e, EC: crv/x/y, OKP: crv/x). */
export const JwkSchema = Type.Object(
  {
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Optional(Type.String()),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const JwksSchema = Type.Object({ keys: Type.Array(JwkSchema) });
