import { Type } from 'typebox';

/**
 * WebAuthn JSON as @simplewebauthn/browser and `PublicKeyCredential.toJSON()` produce it. The
 * nested credential is checked by @simplewebauthn/server; this only bounds its size and shape.
 */
const CredentialJson = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 1024 }),
    rawId: Type.String({ minLength: 1, maxLength: 1024 }),
    type: Type.Literal('public-key'),
    response: Type.Record(Type.String(), Type.Unknown()),
    authenticatorAttachment: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    clientExtensionResults: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);

/** Options JSON for `navigator.credentials.create/get` (PublicKeyCredential*OptionsJSON). */
export const OptionsJsonSchema = Type.Record(Type.String(), Type.Unknown(), {
  description: 'PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON: pass to @simplewebauthn/browser or PublicKeyCredential.parse*OptionsFromJSON. The challenge is single use and valid 5 minutes.',
});

export const RegisterVerifyBodySchema = Type.Object(
  { response: CredentialJson, name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);

export const LoginVerifyBodySchema = Type.Object({ response: CredentialJson }, { additionalProperties: false });

export const PasskeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.Union([Type.String(), Type.Null()]),
  deviceType: Type.String({ description: 'singleDevice or multiDevice (synced)' }),
  backedUp: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const PasskeyListSchema = Type.Object({ items: Type.Array(PasskeySchema) });

export const PasskeyParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });
