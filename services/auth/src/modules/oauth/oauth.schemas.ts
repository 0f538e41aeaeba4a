import { Type } from 'typebox';

export const ProviderParamsSchema = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 32, description: 'google, facebook, line, github or oidc' }) });

export const ProvidersListSchema = Type.Object({ items: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })) });

export const StartQuerySchema = Type.Object(
  { redirectUri: Type.String({ minLength: 1, maxLength: 2048, description: 'exactly one of the tenant\'s settings.redirectUris' }) },
  { additionalProperties: false },
);

export const LinkStartBodySchema = Type.Object({ redirectUri: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false });

export const LinkStartResponseSchema = Type.Object({ authorizationUrl: Type.String({ description: 'send the browser here; the callback links the account and returns to redirectUri with ?linked=<provider>' }) });

/** The provider's redirect back; anything else it adds is passed to the protocol client as is. */
export const CallbackQuerySchema = Type.Object(
  {
    state: Type.Optional(Type.String({ maxLength: 256 })),
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: Type.String({ maxLength: 4096 }) },
);

export const ExchangeBodySchema = Type.Object({ code: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });

const Url = Type.String({ minLength: 1, maxLength: 2048 });

export const ProviderConfigBodySchema = Type.Object(
  {
    clientId: Type.String({ minLength: 1, maxLength: 512 }),
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'required when the provider is new; kept when omitted' })),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21-\\x7e]+$' }), { maxItems: 20 })),
    discoveryUrl: Type.Optional(Url),
    issuer: Type.Optional(Url),
    authorizationEndpoint: Type.Optional(Url),
    tokenEndpoint: Type.Optional(Url),
    userinfoEndpoint: Type.Optional(Url),
    jwksUri: Type.Optional(Url),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const Nullable = Type.Union([Type.String(), Type.Null()]);
export const ProviderConfigSchema = Type.Object({
  provider: Type.String(),
  name: Type.String(),
  clientId: Type.String(),
  hasClientSecret: Type.Boolean(),
  scopes: Type.Union([Type.Array(Type.String()), Type.Null()]),
  discoveryUrl: Nullable,
  issuer: Nullable,
  authorizationEndpoint: Nullable,
  tokenEndpoint: Nullable,
  userinfoEndpoint: Nullable,
  jwksUri: Nullable,
  enabled: Type.Boolean(),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ProviderConfigListSchema = Type.Object({ items: Type.Array(ProviderConfigSchema) });

export const IdentityParamsSchema = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 32, description: 'google, facebook, line, github or oidc' }) });

export const IdentityListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      provider: Type.String({ description: 'google, facebook, line, github or oidc' }),
      name: Type.String({ description: 'the provider\'s display name' }),
      email: Type.Union([Type.String(), Type.Null()], { description: 'the email the provider gave when the identity was linked' }),
      linkedAt: Type.String({ format: 'date-time' }),
    }),
  ),
  password: Type.Boolean({ description: 'the account has a password' }),
  passkeys: Type.Integer({ minimum: 0, description: 'how many passkeys the account has' }),
});
