/** Schemas of the OpenID provider's REST routes (applications, resources, consents, interactions). */
import { Type, type Static } from 'typebox';

const Uri = Type.String({ minLength: 1, maxLength: 2000 });
const ScopeName = Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' });

export const ApplicationTypeSchema = Type.Union([Type.Literal('web'), Type.Literal('spa'), Type.Literal('native'), Type.Literal('m2m')]);

const JwksSchema = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 10 }) });

const editable = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  redirectUris: Type.Array(Uri, { maxItems: 50, uniqueItems: true, description: 'matched exactly; https, or http on loopback only; no fragment' }),
  postLogoutRedirectUris: Type.Array(Uri, { maxItems: 50, uniqueItems: true }),
  scopes: Type.Array(ScopeName, { maxItems: 100, uniqueItems: true, description: 'API resource scopes the application may ask for' }),
  resources: Type.Array(Uri, { maxItems: 50, uniqueItems: true, description: 'audiences of API resources the application may ask tokens for' }),
  firstParty: Type.Boolean({ description: 'first-party applications skip the consent screen' }),
  tokenEndpointAuthMethod: Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post'), Type.Literal('private_key_jwt')], {
    description: 'confidential clients (web, m2m) only; public clients (spa, native) use none',
  }),
  jwks: JwksSchema,
};

export const ApplicationCreateSchema = Type.Object(
  {
    name: editable.name,
    type: ApplicationTypeSchema,
    redirectUris: Type.Optional(editable.redirectUris),
    postLogoutRedirectUris: Type.Optional(editable.postLogoutRedirectUris),
    scopes: Type.Optional(editable.scopes),
    resources: Type.Optional(editable.resources),
    firstParty: Type.Optional(editable.firstParty),
    tokenEndpointAuthMethod: Type.Optional(editable.tokenEndpointAuthMethod),
    jwks: Type.Optional(editable.jwks),
  },
  { additionalProperties: false },
);
export type ApplicationCreate = Static<typeof ApplicationCreateSchema>;

export const ApplicationPatchSchema = Type.Object(
  {
    name: Type.Optional(editable.name),
    redirectUris: Type.Optional(editable.redirectUris),
    postLogoutRedirectUris: Type.Optional(editable.postLogoutRedirectUris),
    scopes: Type.Optional(editable.scopes),
    resources: Type.Optional(editable.resources),
    firstParty: Type.Optional(editable.firstParty),
    tokenEndpointAuthMethod: Type.Optional(editable.tokenEndpointAuthMethod),
    jwks: Type.Optional(Type.Union([editable.jwks, Type.Null()])),
    disabled: Type.Optional(Type.Boolean({ description: 'a disabled application is unknown to the provider' })),
  },
  { additionalProperties: false },
);
export type ApplicationPatch = Static<typeof ApplicationPatchSchema>;

export const ApplicationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  clientId: Type.String(),
  name: Type.String(),
  type: ApplicationTypeSchema,
  redirectUris: Type.Array(Type.String()),
  postLogoutRedirectUris: Type.Array(Type.String()),
  scopes: Type.Array(Type.String()),
  resources: Type.Array(Type.String()),
  firstParty: Type.Boolean(),
  disabled: Type.Boolean(),
  tokenEndpointAuthMethod: Type.String(),
  issuer: Type.String({ description: 'the tenant\'s issuer: discovery at <issuer>/.well-known/openid-configuration' }),
  createdAt: Type.String({ format: 'date-time' }),
});
export type Application = Static<typeof ApplicationSchema>;

export const ApplicationWithSecretSchema = Type.Intersect([ApplicationSchema, Type.Object({ clientSecret: Type.Optional(Type.String({ description: 'shown once' })) })]);
export const SecretSchema = Type.Object({ clientSecret: Type.String({ description: 'shown once; the previous secret stops working' }) });
export const ApplicationListSchema = Type.Object({ items: Type.Array(ApplicationSchema) });
export const IdParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });

const ResourceScopeSchema = Type.Object({ name: ScopeName, description: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });

export const ResourceCreateSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    audience: Type.String({ minLength: 1, maxLength: 2000, description: 'the access tokens\' aud; an absolute URI (RFC 8707)' }),
    scopes: Type.Array(ResourceScopeSchema, { maxItems: 100 }),
  },
  { additionalProperties: false },
);
export type ResourceCreate = Static<typeof ResourceCreateSchema>;
export const ResourcePatchSchema = Type.Object(
  { name: Type.Optional(ResourceCreateSchema.properties.name), scopes: Type.Optional(ResourceCreateSchema.properties.scopes) },
  { additionalProperties: false },
);
export type ResourcePatch = Static<typeof ResourcePatchSchema>;
export const ResourceSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  audience: Type.String(),
  scopes: Type.Array(Type.Object({ name: Type.String(), description: Type.Optional(Type.String()) })),
});
export const ResourceListSchema = Type.Object({ items: Type.Array(ResourceSchema) });

export const ConsentListSchema = Type.Object({
  items: Type.Array(Type.Object({ applicationId: Type.String({ format: 'uuid' }), name: Type.String(), scopes: Type.Array(Type.String()), grantedAt: Type.String({ format: 'date-time' }) })),
});
export const ConsentParamsSchema = Type.Object({ applicationId: Type.String({ format: 'uuid' }) });

export const InteractionParamsSchema = Type.Object({ uid: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }) });
export const InteractionDetailsSchema = Type.Object({
  uid: Type.String(),
  prompt: Type.String({ description: 'login or consent' }),
  application: Type.Object({ clientId: Type.String(), name: Type.String(), firstParty: Type.Boolean() }),
  scopes: Type.Array(Type.String()),
  reasons: Type.Array(Type.String()),
});
export const InteractionRedirectSchema = Type.Object({ redirectTo: Type.String() });
