/**
 * Schemas of the tenants feature: the tenant, its settings (validated here and by the service,
 * so the admin API and the CLI accept exactly the same), the admin bodies and the internal
 * resolve query. Defaults and where each setting is applied: docs/tenancy.md "Settings".
 */
import { Type, type Static } from 'typebox';
import { ListOf, UserSchema } from '@gatehouse/contracts';
import { DisplayNameSchema, EmailSchema, NewPasswordSchema, UsernameSchema } from '../auth/auth.schemas';

/** Social-login providers a tenant may enable (`enabledProviders`). */
export const PROVIDERS = ['google', 'facebook', 'line', 'github', 'oidc'] as const;

/** Bounds of the numeric settings; the service and the docs use the same numbers. */
export const SETTING_BOUNDS = {
  passwordMinLength: { minimum: 8, maximum: 256 },
  accessTokenTtlSec: { minimum: 60, maximum: 3600 },
  refreshTokenTtlSec: { minimum: 300, maximum: 90 * 24 * 3600 },
} as const;

/** At most this many origins and redirect URIs per tenant: an allow-list, not a database. */
export const MAX_LIST_ITEMS = 100;

const SETTING_NAMES = [
  'allowedOrigins',
  'redirectUris',
  'passwordMinLength',
  'mfaRequired',
  'selfRegistration',
  'accessTokenTtlSec',
  'refreshTokenTtlSec',
  'enabledProviders',
] as const;
/** Every setting a tenant may have. */
export type SettingName = (typeof SETTING_NAMES)[number];

/**
 * The setting fields. Each is a plain JSON Schema so the nullable variant (for PATCH, where
 * `null` means "back to the default") can be written as `type: [t, "null"]`: with `anyOf`,
 * Ajv's type coercion would turn `null` into `0`, `""` or `false` in the first branch.
 */
const fields = {
  allowedOrigins: {
    type: 'array',
    maxItems: MAX_LIST_ITEMS,
    uniqueItems: true,
    items: { type: 'string', minLength: 1, maxLength: 300 },
    description: 'Browser origins (`scheme://host[:port]`, exactly as browsers send them) allowed by CORS for this tenant. Default `[]`.',
  },
  redirectUris: {
    type: 'array',
    maxItems: MAX_LIST_ITEMS,
    uniqueItems: true,
    items: { type: 'string', minLength: 1, maxLength: 2048 },
    description: 'Absolute http(s) URIs OAuth flows may redirect to (https unless loopback; canonical form; no fragment or user info), matched exactly: no prefix, wildcard or case leniency. Default `[]`.',
  },
  passwordMinLength: {
    type: 'integer',
    ...SETTING_BOUNDS.passwordMinLength,
    description: 'Minimum password length in characters (8–256). Default 8.',
  },
  mfaRequired: { type: 'boolean', description: 'Every user must sign in with a second factor. Default false.' },
  selfRegistration: {
    type: 'boolean',
    description: 'Whether `POST /api/v1/auth/register` is open (false: 403 `registration_disabled`). Default true.',
  },
  accessTokenTtlSec: {
    type: 'integer',
    ...SETTING_BOUNDS.accessTokenTtlSec,
    description: 'Access-token lifetime in seconds (60–3600). Default: the deployment\'s ACCESS_TOKEN_TTL_SEC (900).',
  },
  refreshTokenTtlSec: {
    type: 'integer',
    ...SETTING_BOUNDS.refreshTokenTtlSec,
    description:
      'Session idle lifetime in seconds (300 s–90 days): a session unused this long ends. Never beyond the absolute lifetime (REFRESH_ABSOLUTE_TTL_SEC). Default: REFRESH_IDLE_TTL_SEC (14 days).',
  },
  enabledProviders: {
    type: 'array',
    maxItems: PROVIDERS.length,
    uniqueItems: true,
    items: { type: 'string', enum: [...PROVIDERS] },
    description: `Restricts social login to these providers (a subset of ${PROVIDERS.join(', ')}) among those configured for the tenant under /admin/oauth-providers. Default: unset, every configured provider is offered; \`[]\` offers none.`,
  },
} satisfies Record<SettingName, Record<string, unknown>>;

/** The TypeScript shape of tenant settings (every field optional: unset means the default). */
export interface TenantSettings {
  allowedOrigins?: string[];
  redirectUris?: string[];
  passwordMinLength?: number;
  mfaRequired?: boolean;
  selfRegistration?: boolean;
  accessTokenTtlSec?: number;
  refreshTokenTtlSec?: number;
  enabledProviders?: Array<(typeof PROVIDERS)[number]>;
}

/** A settings patch: a field set to `null` goes back to its default (JSON Merge Patch, RFC 7396). */
export type TenantSettingsPatch = { [K in keyof TenantSettings]?: TenantSettings[K] | null };

/**
 * Unknown keys are refused through `propertyNames` rather than `additionalProperties: false`:
 * the services' Ajv runs with `removeAdditional`, which would silently drop a misspelt
 * setting instead of telling the caller.
 */
const propertyNames = { enum: [...SETTING_NAMES] };

/** Tenant settings: every field optional, unknown fields refused. */
export const TenantSettingsSchema = Type.Unsafe<TenantSettings>({
  type: 'object',
  properties: fields,
  propertyNames,
  description: 'Per-tenant settings; every field is optional and an absent one means its default.',
});

/** Settings in a PATCH: as {@link TenantSettingsSchema}, and `null` resets a field to its default. */
export const TenantSettingsPatchSchema = Type.Unsafe<TenantSettingsPatch>({
  type: 'object',
  properties: Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, { ...v, type: [v.type, 'null'], description: `${v.description} \`null\` resets it.` }]),
  ),
  propertyNames,
  description: 'Merged into the current settings (RFC 7396): given fields replace, `null` resets a field to its default, absent fields stay.',
});

/**
 * An object whose unknown fields are refused with a 400 naming them, rather than removed in
 * silence (what `additionalProperties: false` does under the services' `removeAdditional`):
 * a PATCH with `slug` must not answer 200 as if the slug had changed.
 */
function strictObject<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: Record<string, unknown> = {}) {
  return Type.Object(properties, { ...options, propertyNames: { enum: Object.keys(properties) } });
}

export const TenantStatusSchema = Type.Union([Type.Literal('active'), Type.Literal('disabled')]);

export const TenantSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  status: TenantStatusSchema,
  settings: TenantSettingsSchema,
  createdAt: Type.String({ format: 'date-time' }),
});

/** One line of printable text: no control characters. */
const ONE_LINE = '^[^\\u0000-\\u001F\\u007F]*$';

const SlugSchema = Type.String({
  minLength: 1,
  maxLength: 63,
  description:
    'A DNS label: lowercase letters, digits and hyphens, not starting or ending with a hyphen; the tenant is reached at `<slug>.<BASE_DOMAIN>`. Reserved names (www, api, admin, …) are refused. Cannot be changed later.',
});
const NameSchema = Type.String({ minLength: 1, maxLength: 100, pattern: ONE_LINE, description: 'Display name (1–100 characters).' });

export const TenantCreateSchema = strictObject(
  {
    slug: SlugSchema,
    name: NameSchema,
    settings: Type.Optional(TenantSettingsSchema),
    admin: Type.Optional(
      strictObject(
        {
          email: EmailSchema,
          password: NewPasswordSchema,
          username: Type.Optional(UsernameSchema),
          displayName: Type.Optional(DisplayNameSchema),
        },
        {
          description: "The tenant's first admin, created with the tenant in one transaction (the password policy uses the new tenant's settings).",
        },
      ),
    ),
  },
);

export const TenantPatchSchema = strictObject(
  {
    name: Type.Optional(NameSchema),
    status: Type.Optional(
      Type.Union([Type.Literal('active'), Type.Literal('disabled')], {
        description: 'Disabling revokes every session and access token of the tenant at once and blocks its logins; the default tenant cannot be disabled.',
      }),
    ),
    settings: Type.Optional(TenantSettingsPatchSchema),
  },
);

/** `PATCH /api/v1/admin/tenant`: what a tenant's own admin may change (not its status). */
export const OwnTenantPatchSchema = strictObject({
  name: Type.Optional(NameSchema),
  settings: Type.Optional(TenantSettingsPatchSchema),
});

export const TenantCreatedSchema = Type.Object({
  ...TenantSchema.properties,
  admin: Type.Optional(UserSchema),
});

export const TenantListQuerySchema = strictObject(
  {
    status: Type.Optional(TenantStatusSchema),
    query: Type.Optional(Type.String({ maxLength: 100, description: 'substring of the slug or name, case-insensitive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
);

export const TenantListSchema = ListOf(TenantSchema);

export const TenantParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const ResolveQuerySchema = Type.Object(
  {
    slug: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export type TenantCreate = Static<typeof TenantCreateSchema>;
export type TenantPatch = Static<typeof TenantPatchSchema>;

