/** Routes of the caller's attendance QR code. */
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { QrQuery, QrTokenResponse } from './qr.schemas';
import type { QrService } from './qr.service';

/** Registers the routes of the caller's QR code. */
export function qrRoutes(app: HttpApp, deps: { qr: QrService; requireUser: preHandlerAsyncHookHandler }) {
  const { qr, requireUser } = deps;

  app.get(
    '/api/v1/users/me/qr',
    {
      preHandler: requireUser,
      schema: {
        tags: ['attendance'],
        summary: 'The caller’s attendance QR code (SVG or PNG)',
        description:
          'Encodes a short-lived signed token (60 s by default); fetch a new one before `X-QR-Expires-At`. Organizers scan it to check the member in.',
        security: bearerSecurity,
        querystring: QrQuery,
        response: {
          200: {
            description: 'the QR image',
            content: {
              'image/svg+xml': { schema: { type: 'string' } },
              'image/png': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...problems(400, 401, 403),
        },
      },
    },
    async (req, reply) => {
      const img = await qr.render(req.auth!.tid, req.auth!.sub, req.query.format ?? 'svg', req.query.size ?? 320);
      return reply
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'")
        .header('x-qr-expires-at', img.expiresAt)
        .type(img.contentType)
        // SVG text or PNG bytes; the type provider types both image schemas as string
        .send(img.body as string);
    },
  );

  app.get(
    '/api/v1/users/me/qr/token',
    {
      preHandler: requireUser,
      schema: {
        tags: ['attendance'],
        summary: 'A fresh attendance token for the caller (for apps that draw the QR themselves)',
        security: bearerSecurity,
        response: { 200: QrTokenResponse, ...problems(401, 403) },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return qr.token(req.auth!.tid, req.auth!.sub);
    },
  );
}
