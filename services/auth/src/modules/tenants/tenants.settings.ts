/**
 * Tenant settings: validation (shared by the admin API and the CLI), merging a patch, and the
 * functions every flow uses to read a setting with its default. Readers never trust the stored
 * JSON blindly (a row may have been written by hand): each one checks the type and bounds and
 * falls back to the default.
 */
import { Value } from 'typebox/value';
import { AppError, type FieldError } from '@gatehouse/platform/errors';
import {
  PROVIDERS,
  SETTING_BOUNDS,
  TenantSettingsPatchSchema,
  TenantSettingsSchema,
  type TenantSettings,
  type TenantSettingsPatch,
} from './tenants.schemas';

/** What the readers below need of a tenant. */
type WithSettings = { settings: TenantSettings | Record<string, unknown> } | undefined;

/** One stored setting, untyped: stored JSON is checked by each reader, not trusted. */
function setting(t: WithSettings, name: keyof TenantSettings): unknown {
  return t ? (t.settings as Record<string, unknown>)[name] : undefined;
}

/** Longest access-token lifetime a tenant setting may ask for; key overlap and revocation TTLs cover it. */
export const MAX_TENANT_ACCESS_TTL_SEC = SETTING_BOUNDS.accessTokenTtlSec.maximum;

const KNOWN = new Set(Object.keys((TenantSettingsSchema as unknown as { properties: object }).properties));

/** Hosts where plain http is acceptable for a redirect URI (RFC 8252 §7.3, RFC 9700 §2.1). */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '127.0.0.1' || hostname === '[::1]';
}

function originProblem(value: string): string | undefined {
  if (value.includes('*')) return 'wildcards are not allowed: list each origin';
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not an origin (scheme://host[:port])';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http or https origin';
  // Browsers send the serialised origin; anything else (a path, a trailing slash, upper case,
  // a default port) would never match, so say what would.
  if (u.origin !== value) return `must be exactly an origin as browsers send it: ${u.origin}`;
  return undefined;
}

function redirectProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not an absolute URI';
  }
  // http(s) only: the OAuth flows match http(s) URIs alone (custom app schemes would never match)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http or https URI';
  if (value.includes('#')) return 'must not have a fragment (RFC 6749 §3.1.2)';
  if (u.username || u.password) return 'must not contain user info (`user@host`)';
  if (u.protocol === 'http:' && !isLoopback(u.hostname)) return 'must use https (plain http only for localhost and loopback addresses)';
  // Matching is exact, so the stored form must be the one clients send: the canonical one.
  if (u.href !== value) return `must be written in canonical form: ${u.href}`;
  return undefined;
}

function schemaErrors(schema: unknown, value: unknown, base: string): FieldError[] {
  const out: FieldError[] = [];
  for (const e of Value.Errors(schema as never, value)) {
    if (e.keyword === 'propertyNames') continue; // the per-name error below says which key
    const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const message = e.keyword === 'enum' && /^\/[^/]+$/.test(e.instancePath) && !KNOWN.has(at) ? `is not a setting (known: ${[...KNOWN].join(', ')})` : e.message;
    out.push({ path: at ? `${base}.${at}` : base, message });
    if (out.length >= 20) break;
  }
  return out;
}

function listProblems(settings: TenantSettings, base: string): FieldError[] {
  const out: FieldError[] = [];
  settings.allowedOrigins?.forEach((o, i) => {
    const p = originProblem(o);
    if (p) out.push({ path: `${base}.allowedOrigins.${i}`, message: p });
  });
  settings.redirectUris?.forEach((r, i) => {
    const p = redirectProblem(r);
    if (p) out.push({ path: `${base}.redirectUris.${i}`, message: p });
  });
  return out;
}

function invalid(errors: FieldError[]): AppError {
  return new AppError('validation_failed', 400, { detail: 'The tenant settings are not valid.', errors });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks complete settings (create) and returns them with only known keys. Throws 400
 * `validation_failed` naming every bad field (`base` prefixes the paths, e.g. `body.settings`).
 */
export function validateSettings(input: unknown, base = 'settings'): TenantSettings {
  if (input === undefined) return {};
  if (!isPlainObject(input)) throw invalid([{ path: base, message: 'must be an object' }]);
  const errors = schemaErrors(TenantSettingsSchema, input, base);
  if (errors.length) throw invalid(errors);
  const settings = input as TenantSettings;
  const more = listProblems(settings, base);
  if (more.length) throw invalid(more);
  return { ...settings };
}

/**
 * Applies a settings patch (RFC 7396 merge at the top level: given fields replace, `null`
 * resets to the default, absent fields stay) to the current settings and validates the result.
 * Keys the current settings hold that are not settings (written by hand) are dropped.
 */
export function mergeSettings(current: Record<string, unknown>, patch: unknown, base = 'settings'): TenantSettings {
  if (!isPlainObject(patch)) throw invalid([{ path: base, message: 'must be an object' }]);
  const errors = schemaErrors(TenantSettingsPatchSchema, patch, base);
  if (errors.length) throw invalid(errors);
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(current)) if (KNOWN.has(k)) merged[k] = v;
  for (const [k, v] of Object.entries(patch as TenantSettingsPatch)) {
    if (v === null) delete merged[k];
    else if (v !== undefined) merged[k] = v;
  }
  // Re-validate the whole: a stored value written by hand may be out of bounds.
  return validateSettings(merged, base);
}

function intWithin(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? Math.min(max, Math.max(min, v)) : undefined;
}

/** Minimum password length for a tenant: 8 unless its settings raise it (capped at 256). */
export function passwordMinLength(t: WithSettings): number {
  const b = SETTING_BOUNDS.passwordMinLength;
  return intWithin(setting(t, 'passwordMinLength'), b.minimum, b.maximum) ?? b.minimum;
}

/** Access-token lifetime for a tenant: its setting within 60..3600 s, else the configured default. */
export function accessTtlSec(t: WithSettings, fallback: number): number {
  return intWithin(setting(t, 'accessTokenTtlSec'), SETTING_BOUNDS.accessTokenTtlSec.minimum, MAX_TENANT_ACCESS_TTL_SEC) ?? fallback;
}

/** Session idle lifetime for a tenant: its `refreshTokenTtlSec` within 300 s..90 d, else the configured default. */
export function refreshIdleSec(t: WithSettings, fallback: number): number {
  const b = SETTING_BOUNDS.refreshTokenTtlSec;
  return intWithin(setting(t, 'refreshTokenTtlSec'), b.minimum, b.maximum) ?? fallback;
}

/** Whether anyone may create an account with `POST /register` (default true). */
export function selfRegistrationOpen(t: WithSettings): boolean {
  return setting(t, 'selfRegistration') !== false;
}

/** Whether every user of the tenant must use a second factor (default false). */
export function mfaRequired(t: WithSettings): boolean {
  return setting(t, 'mfaRequired') === true;
}

/**
 * The social-login providers the tenant restricts itself to, or undefined when it sets none
 * (then every provider configured for it under /admin/oauth-providers is offered).
 */
export function enabledProviders(t: WithSettings): string[] | undefined {
  const v = setting(t, 'enabledProviders');
  return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && (PROVIDERS as readonly string[]).includes(p)) : undefined;
}

/** The tenant's browser origins (exact `scheme://host[:port]` strings). */
export function allowedOrigins(t: WithSettings): string[] {
  const v = setting(t, 'allowedOrigins');
  return Array.isArray(v) ? v.filter((o): o is string => typeof o === 'string' && originProblem(o) === undefined) : [];
}

/**
 * Whether `uri` is on the tenant's redirect allow-list: exact string equality, no prefix,
 * wildcard, case or port leniency (RFC 9700 §4.1.3; the open-redirect CVEs of other servers
 * came from "smart" matching). A URI that is not itself acceptable never matches.
 */
export function isAllowedRedirectUri(t: WithSettings, uri: string): boolean {
  const v = setting(t, 'redirectUris');
  if (!Array.isArray(v) || typeof uri !== 'string' || redirectProblem(uri) !== undefined) return false;
  return v.some((allowed) => allowed === uri);
}
