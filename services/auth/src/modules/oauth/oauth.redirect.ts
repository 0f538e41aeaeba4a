/**
 * Redirect URI validation (RFC 9700 §2.1, §4.1.3): an exact string match against the
 * tenant's `settings.redirectUris`. The candidate must parse as an http(s) URL without
 * userinfo or fragment, and be already in WHATWG serialized form (so `..`, `%2e`, case or
 * default-port variants that a parser would rewrite never match), then equal an allow-list
 * entry character for character. No prefix, wildcard, host or path-segment matching.
 */

/** True when `candidate` may receive codes for a tenant whose allow-list is `allowed`. */
export function isAllowedRedirectUri(candidate: string, allowed: unknown): boolean {
  if (typeof candidate !== 'string' || candidate.length === 0 || candidate.length > 2048) return false;
  let u: URL;
  try {
    u = new URL(candidate);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return false;
  if (u.username !== '' || u.password !== '' || candidate.includes('#')) return false;
  if (u.href !== candidate) return false;
  return Array.isArray(allowed) && allowed.some((entry) => entry === candidate);
}

/** `redirectUri` with `params` added to its query (the URI was validated before). */
export function withParams(redirectUri: string, params: Record<string, string>): string {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}
