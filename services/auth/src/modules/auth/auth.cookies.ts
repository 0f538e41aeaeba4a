/**
 * Browser mode (`?mode=cookie`): the refresh token lives only in an HttpOnly, SameSite=Strict
 * cookie scoped to the auth routes, Secure unless the public URL is a loopback host (browsers
 * drop Secure cookies on plain-http localhost).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenResponse } from '@gatehouse/contracts';

export const REFRESH_COOKIE = 'gatehouse_refresh';
const COOKIE_PATH = '/api/v1/auth';

/** True when the URL's host is localhost or a loopback address. */
export function isLoopbackUrl(publicUrl: string): boolean {
  const host = new URL(publicUrl).hostname;
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

/** Creates the refresh-cookie helpers for a public URL. */
export function createRefreshCookies(publicUrl: string) {
  const secure = !isLoopbackUrl(publicUrl);
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
    read(req: FastifyRequest): string | undefined {
      const v = req.cookies?.[REFRESH_COOKIE];
      return typeof v === 'string' && v.length > 0 ? v : undefined;
    },
    clear(reply: FastifyReply): void {
      reply.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure, sameSite: 'strict', path: COOKIE_PATH });
    },
  };
}
export type RefreshCookies = ReturnType<typeof createRefreshCookies>;
