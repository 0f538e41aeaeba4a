/**
 * The sign-in providers and their protocol clients.
 *
 * - OpenID Connect (Google, LINE, any provider by discovery URL) and Facebook's OAuth 2.0
 *   go through openid-client (certified; it checks state, PKCE, the ID token's signature,
 *   issuer, audience and nonce). LINE uses it too rather than arctic: arctic hands back the
 *   ID token unverified, openid-client verifies it and the nonce.
 * - LINE signs its web-login ID tokens with HS256 and the channel secret. openid-client checks
 *   the ID token's claims (iss, aud, exp, iat, nonce) but verifies signatures only for
 *   asymmetric algorithms (oauth4webapi has no HMAC), so the HS256 signature is verified here
 *   with jose (plus iss, aud, exp and nonce once more). Any failure is `invalid_id_token`.
 * - GitHub (OAuth 2.0 without OIDC) goes through arctic's OAuth2Client (arctic's GitHub class
 *   has no PKCE); GitHub's token endpoint answers errors with status 200, which is checked
 *   here. The profile and the verified primary email come from GitHub's REST API (`/user`,
 *   `/user/emails`).
 *
 * Every flow is the authorization code flow with PKCE S256. Endpoints come from the
 * provider's defaults, a discovery URL, or per-tenant overrides (tests point "google" at a
 * local OpenID provider that way). Plain-http endpoints are accepted only on loopback hosts.
 */
import * as client from 'openid-client';
import { jwtVerify } from 'jose';
import { CodeChallengeMethod, OAuth2Client, OAuth2RequestError } from 'arctic';
import type { Logger } from 'pino';
import type { CallbackError } from './oauth.errors';
import type { ProviderRow } from './oauth.queries';

/** The providers Gatehouse knows. */
export const PROVIDERS = {
  google: { name: 'Google', kind: 'oidc', issuer: 'https://accounts.google.com', scopes: ['openid', 'email', 'profile'] },
  line: { name: 'LINE', kind: 'oidc', issuer: 'https://access.line.me', scopes: ['openid', 'profile', 'email'] },
  oidc: { name: 'OpenID Connect', kind: 'oidc', issuer: undefined, scopes: ['openid', 'email', 'profile'] },
  facebook: {
    name: 'Facebook',
    kind: 'oauth2',
    issuer: 'https://www.facebook.com',
    authorizationEndpoint: 'https://www.facebook.com/v19.0/dialog/oauth',
    tokenEndpoint: 'https://graph.facebook.com/v19.0/oauth/access_token',
    userinfoEndpoint: 'https://graph.facebook.com/v19.0/me?fields=id,name,email',
    scopes: ['email', 'public_profile'],
  },
  github: {
    name: 'GitHub',
    kind: 'github',
    issuer: 'https://github.com',
    authorizationEndpoint: 'https://github.com/login/oauth/authorize',
    tokenEndpoint: 'https://github.com/login/oauth/access_token',
    userinfoEndpoint: 'https://api.github.com/user',
    scopes: ['read:user', 'user:email'],
  },
} as const;

export type ProviderId = keyof typeof PROVIDERS;
export const PROVIDER_IDS = Object.keys(PROVIDERS) as ProviderId[];

/** What Gatehouse keeps of a provider's account. */
export interface Profile {
  subject: string;
  email: string | null;
  /** true only when the provider asserts the address is verified */
  emailVerified: boolean;
  name: string | null;
}

/** The per-flow secrets kept in the transaction state. */
export interface FlowChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** A callback that failed at the provider or in verification; `code` goes back to the app. */
export class CallbackFailure extends Error {
  constructor(
    readonly code: CallbackError,
    options?: { cause?: unknown },
  ) {
    super(code, options);
  }
}

/** http is accepted only for loopback hosts (local development, tests). */
export function isLoopbackHttp(u: URL): boolean {
  return u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}

/** openid-client's refusals of an ID token's claims or algorithm (iss, aud, exp, iat, nonce, alg). */
function isIdTokenFailure(err: unknown): boolean {
  const codes = [(err as { code?: unknown }).code, ((err as { cause?: { code?: unknown } }).cause ?? {}).code];
  // oauth4webapi's error codes, as openid-client passes them on
  if (codes.some((c) => c === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || c === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED')) return true;
  // an unexpected "alg" (not the registered HS256 / not a supported algorithm)
  const cause = (err as { cause?: unknown }).cause;
  return [err, cause].some((e) => e instanceof Error && /"alg" header|ID Token/.test(e.message));
}

/** LINE's ID token: the HS256 signature with the channel secret, then iss, aud, exp and nonce. */
async function verifyLineIdToken(cfg: client.Configuration, p: ProviderConfig, idToken: string | undefined, nonce: string): Promise<void> {
  if (!idToken) throw new CallbackFailure('invalid_id_token');
  try {
    const { payload } = await jwtVerify(idToken, new TextEncoder().encode(p.clientSecret), {
      algorithms: ['HS256'],
      issuer: cfg.serverMetadata().issuer,
      audience: p.row.client_id,
      requiredClaims: ['exp', 'iat', 'sub', 'nonce'],
      clockTolerance: 30,
    });
    if (payload.nonce !== nonce) throw new Error('nonce mismatch');
  } catch (err) {
    throw new CallbackFailure('invalid_id_token', { cause: err });
  }
}

/** A configured provider with its opened client secret. */
export interface ProviderConfig {
  id: ProviderId;
  row: ProviderRow;
  clientSecret: string;
}

/** Creates the protocol clients; OIDC configurations (discovery) are cached per configuration version. */
export function createProviderClients({ publicUrl, logger }: { publicUrl: string; logger: Logger }) {
  const cache = new Map<string, { at: number; cfg: Promise<client.Configuration> }>();
  const CACHE_MS = 3600_000;

  const callbackUrl = (id: ProviderId) => `${publicUrl}/api/v1/auth/oauth/${id}/callback`;
  const scopesOf = (p: ProviderConfig) => (p.row.scopes?.length ? p.row.scopes : [...PROVIDERS[p.id].scopes]);

  async function build(p: ProviderConfig): Promise<client.Configuration> {
    const def = PROVIDERS[p.id];
    const ep = p.row.endpoints ?? {};
    // LINE and Facebook document client_secret_post; everyone else gets the RFC 6749 default
    const auth = p.id === 'line' || p.id === 'facebook' ? client.ClientSecretPost(p.clientSecret) : client.ClientSecretBasic(p.clientSecret);
    const metadata: Partial<client.ClientMetadata> = { client_secret: p.clientSecret, redirect_uris: [callbackUrl(p.id)] };
    // LINE: only HS256 ID tokens are accepted (an "alg": "none" or RS256 header is refused)
    if (p.id === 'line') metadata.id_token_signed_response_alg = 'HS256';
    let cfg: client.Configuration;
    const staticEndpoints = ep.authorizationEndpoint && ep.tokenEndpoint;
    if (def.kind === 'oauth2' || staticEndpoints) {
      const d = def as { issuer?: string; authorizationEndpoint?: string; tokenEndpoint?: string; userinfoEndpoint?: string };
      const server: client.ServerMetadata = {
        issuer: ep.issuer ?? d.issuer ?? '',
        authorization_endpoint: ep.authorizationEndpoint ?? d.authorizationEndpoint,
        token_endpoint: ep.tokenEndpoint ?? d.tokenEndpoint,
        userinfo_endpoint: ep.userinfoEndpoint ?? (def.kind === 'oidc' ? undefined : d.userinfoEndpoint),
        jwks_uri: ep.jwksUri,
      };
      cfg = new client.Configuration(server, p.row.client_id, metadata, auth);
      const urls = [server.authorization_endpoint, server.token_endpoint, server.userinfo_endpoint, server.jwks_uri].filter(Boolean) as string[];
      if (urls.some((u) => isLoopbackHttp(new URL(u)))) client.allowInsecureRequests(cfg);
    } else {
      const discovery = new URL(p.row.discovery_url ?? def.issuer!);
      const insecure = isLoopbackHttp(discovery);
      cfg = await client.discovery(discovery, p.row.client_id, metadata, auth, insecure ? { execute: [client.allowInsecureRequests] } : undefined);
    }
    return cfg;
  }

  function configuration(p: ProviderConfig): Promise<client.Configuration> {
    const k = `${p.row.tenant_id}:${p.id}:${new Date(p.row.updated_at).getTime()}`;
    const hit = cache.get(k);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.cfg;
    const cfg = build(p);
    cache.set(k, { at: Date.now(), cfg });
    // a failed discovery is retried at the next sign-in, not cached for an hour
    cfg.catch(() => cache.delete(k));
    return cfg;
  }

  function github(p: ProviderConfig) {
    const ep = p.row.endpoints ?? {};
    return {
      oauth: new OAuth2Client(p.row.client_id, p.clientSecret, callbackUrl(p.id)),
      authorizationEndpoint: ep.authorizationEndpoint ?? PROVIDERS.github.authorizationEndpoint,
      tokenEndpoint: ep.tokenEndpoint ?? PROVIDERS.github.tokenEndpoint,
      userinfoEndpoint: ep.userinfoEndpoint ?? PROVIDERS.github.userinfoEndpoint,
    };
  }

  async function githubProfile(p: ProviderConfig, query: URLSearchParams, checks: FlowChecks): Promise<Profile> {
    const gh = github(p);
    const code = query.get('code');
    if (!code || query.get('state') !== checks.state) throw new CallbackFailure('invalid_response');
    let accessToken: string;
    try {
      const tokens = await gh.oauth.validateAuthorizationCode(gh.tokenEndpoint, code, checks.codeVerifier);
      // GitHub: `200 {"error": "bad_verification_code"}` for a wrong code or verifier
      if (typeof (tokens.data as { error?: unknown }).error === 'string') throw new CallbackFailure('invalid_grant');
      accessToken = tokens.accessToken();
    } catch (err) {
      if (err instanceof CallbackFailure) throw err;
      throw new CallbackFailure(err instanceof OAuth2RequestError ? 'invalid_grant' : 'provider_error', { cause: err });
    }
    const headers = { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'user-agent': 'Gatehouse' };
    const get = async (url: string) => {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new CallbackFailure('provider_error');
      return res.json() as Promise<unknown>;
    };
    const user = (await get(gh.userinfoEndpoint)) as { id?: number | string; name?: string | null; login?: string };
    if (user.id === undefined) throw new CallbackFailure('invalid_response');
    const emails = (await get(new URL('/user/emails', gh.userinfoEndpoint).href).catch(() => [])) as Array<{ email?: string; primary?: boolean; verified?: boolean }>;
    const primary = Array.isArray(emails) ? emails.find((e) => e.primary && typeof e.email === 'string') : undefined;
    return { subject: String(user.id), email: primary?.email ?? null, emailVerified: primary?.verified === true, name: user.name ?? user.login ?? null };
  }

  return {
    callbackUrl,

    /** The URL to send the browser to (PKCE S256, state; nonce for OIDC). */
    async authorizationUrl(p: ProviderConfig, checks: FlowChecks): Promise<string> {
      if (p.id === 'github') {
        const gh = github(p);
        return gh.oauth.createAuthorizationURLWithPKCE(gh.authorizationEndpoint, checks.state, CodeChallengeMethod.S256, checks.codeVerifier, scopesOf(p)).href;
      }
      const cfg = await configuration(p);
      const params: Record<string, string> = {
        redirect_uri: callbackUrl(p.id),
        scope: scopesOf(p).join(' '),
        state: checks.state,
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      };
      if (PROVIDERS[p.id].kind === 'oidc') params.nonce = checks.nonce;
      return client.buildAuthorizationUrl(cfg, params).href;
    },

    /** Exchanges the callback's code and returns the account. Throws {@link CallbackFailure}. */
    async profile(p: ProviderConfig, query: URLSearchParams, checks: FlowChecks): Promise<Profile> {
      if (p.id === 'github') return githubProfile(p, query, checks);
      const cfg = await configuration(p).catch((err: unknown) => {
        throw new CallbackFailure('provider_error', { cause: err });
      });
      const oidc = PROVIDERS[p.id].kind === 'oidc';
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(cfg, new URL(`${callbackUrl(p.id)}?${query.toString()}`), {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          ...(oidc ? { expectedNonce: checks.nonce, idTokenExpected: true } : {}),
        });
      } catch (err) {
        logger.debug({ err, provider: p.id }, 'authorization code grant failed');
        if (err instanceof client.ResponseBodyError) throw new CallbackFailure('invalid_grant', { cause: err });
        if (err instanceof client.AuthorizationResponseError) throw new CallbackFailure(err.error === 'access_denied' ? 'access_denied' : 'provider_error', { cause: err });
        if (err instanceof TypeError && /fetch/i.test(err.message)) throw new CallbackFailure('provider_error', { cause: err });
        if (oidc && isIdTokenFailure(err)) throw new CallbackFailure('invalid_id_token', { cause: err });
        throw new CallbackFailure('invalid_response', { cause: err });
      }
      if (p.id === 'line') await verifyLineIdToken(cfg, p, tokens.id_token, checks.nonce);
      try {
        if (!oidc) {
          // Facebook: no ID token; the Graph API's /me is the profile. Its email is not asserted verified.
          const url = new URL(p.row.endpoints?.userinfoEndpoint ?? PROVIDERS.facebook.userinfoEndpoint);
          const res = await client.fetchProtectedResource(cfg, tokens.access_token, url, 'GET');
          const me = (await res.json()) as { id?: string; name?: string; email?: string };
          if (!res.ok || typeof me.id !== 'string') throw new CallbackFailure('invalid_response');
          return { subject: me.id, email: me.email ?? null, emailVerified: false, name: me.name ?? null };
        }
        const claims = tokens.claims()!;
        let info: Record<string, unknown> = claims;
        // providers that follow OIDC Core §5.4 put scope claims in userinfo rather than the ID token
        if (typeof claims.email !== 'string' && cfg.serverMetadata().userinfo_endpoint) {
          info = { ...(await client.fetchUserInfo(cfg, tokens.access_token, claims.sub)), sub: claims.sub };
        }
        return {
          subject: claims.sub,
          email: typeof info.email === 'string' ? info.email : null,
          emailVerified: info.email_verified === true || info.email_verified === 'true',
          name: typeof info.name === 'string' ? info.name : null,
        };
      } catch (err) {
        if (err instanceof CallbackFailure) throw err;
        throw new CallbackFailure('provider_error', { cause: err });
      }
    },
  };
}
export type ProviderClients = ReturnType<typeof createProviderClients>;
