/**
 * Browser mode (`?mode=cookie`): the refresh token lives only in an HttpOnly, SameSite=Strict
 * cookie scoped to the auth routes, Secure unless the public URL is a loopback host (browsers
 * drop Secure cookies on plain-http localhost).
 *
 * SameSite=Strict is not enough against CSRF here: tenants are sibling subdomains of one
 * site, so a page on `attacker.<BASE_DOMAIN>` is "same-site" and its requests carry the
 * cookie. So reading the cookie also checks who asks ({@link RefreshCookies.read}): the
 * `Origin` must be the request's own origin, PUBLIC_URL, one of `CORS_ORIGINS` or one of the
 * tenant's `allowedOrigins`; anything else (another site, a sibling tenant, `null`) is refused
 * with 403 `origin_not_allowed` before the cookie is used. A request without `Origin` is
 * not a browser's cross-origin POST (browsers always send it there) and passes, unless
 * `Sec-Fetch-Site` says it came from another origin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenResponse } from '@gatehouse/contracts';
import { requestTenant } from '@gatehouse/platform/auth';
import type { TenantService } from '../tenants/tenants.service';
import { authErrors } from './auth.errors';
import type { TokenVerifier } from '@gatehouse/platform/auth';

export const REFRESH_COOKIE = 'gatehouse_refresh';
const COOKIE_PATH = '/api/v1/auth';

/** True when the URL's host is localhost or a loopback address. */
export function isLoopbackUrl(publicUrl: string): boolean {
  const host = new URL(publicUrl).hostname;
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

/** The serialised origin of a URL-ish string, undefined when it is not an http(s) origin. */
function originOf(value: string): string | undefined {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

export interface RefreshCookieOptions {
  publicUrl: string;
  /** CORS_ORIGINS: origins the operator allows for every tenant (`*` does not count) */
  corsOrigins?: string[];
  /** looks up the tenant's `allowedOrigins`; unset: only the request's own origin and the above */
  tenants?: Pick<TenantService, 'resolve'>;
}

/** Creates the refresh-cookie helpers. */
export function createRefreshCookies({ publicUrl, corsOrigins = [], tenants }: RefreshCookieOptions) {
  const secure = !isLoopbackUrl(publicUrl);
  const trusted = new Set([publicUrl, ...corsOrigins].map(originOf).filter((o): o is string => o !== undefined));

  /** Throws 403 unless the request may use the cookie (see the module comment). */
  async function assertOrigin(req: FastifyRequest): Promise<void> {
    const origin = req.headers.origin;
    if (origin === undefined) {
      const site = req.headers['sec-fetch-site'];
      if (site === undefined || site === 'same-origin' || site === 'none') return;
      throw authErrors.originNotAllowed();
    }
    const given = originOf(origin);
    // `null` (sandboxed frames, file:, some redirects) and anything unparsable are refused
    if (!given || given !== origin.replace(/\/$/, '')) throw authErrors.originNotAllowed();
    // req.protocol and req.host are the gateway's view (X-Forwarded-Proto/-Host, trusted from it)
    if (given === originOf(`${req.protocol}://${req.host}`)) return;
    if (trusted.has(given)) return;
    if (tenants) {
      let tenantId: string | undefined;
      try {
        tenantId = requestTenant(req);
      } catch {
        tenantId = undefined;
      }
      const tenant = tenantId ? await tenants.resolve({ id: tenantId }) : undefined;
      const allowed = tenant?.settings.allowedOrigins;
      if (Array.isArray(allowed) && allowed.includes(given)) return;
    }
    throw authErrors.originNotAllowed();
  }

  return {
    /** In cookie mode moves the refresh token from the body into the cookie. */
    apply(reply: FastifyReply, mode: string | undefined, body: TokenResponse): TokenResponse {
      if (mode !== 'cookie' || !body.refreshToken) return body;
      reply.setCookie(REFRESH_COOKIE, body.refreshToken, {
        httpOnly: true,
        secure,
        sameSite: 'strict',
        path: COOKIE_PATH,
        maxAge: body.refreshExpiresIn,
      });
      const { refreshToken: _moved, ...rest } = body;
      return rest;
    },
    /**
     * The refresh token from the cookie, once the request's origin is allowed to use it;
     * undefined without a cookie. Throws 403 `origin_not_allowed` (see the module comment).
     */
    async read(req: FastifyRequest): Promise<string | undefined> {
      const v = req.cookies?.[REFRESH_COOKIE];
      if (typeof v !== 'string' || v.length === 0) return undefined;
      await assertOrigin(req);
      return v;
    },
    clear(reply: FastifyReply): void {
      reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure, sameSite: 'strict', path: COOKIE_PATH });
    },
  };
}
export type RefreshCookies = ReturnType<typeof createRefreshCookies>;

/** What every route module that signs a user in needs: the access-token verifier and the refresh cookie. */
export interface SignInRouteDeps {
  verifier: TokenVerifier;
  cookies: RefreshCookies;
}
