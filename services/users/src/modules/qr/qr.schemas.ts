/** HTTP schemas of attendance QR codes. */
import { Type } from 'typebox';

/** Answer of GET /users/me/qr/token. */
export const QrTokenResponse = Type.Object({
  token: Type.String({ description: 'short-lived signed token; what the QR code encodes' }),
  expiresAt: Type.String({ format: 'date-time' }),
});

/** Query of GET /users/me/qr. */
export const QrQuery = Type.Object({
  format: Type.Optional(Type.Union([Type.Literal('svg'), Type.Literal('png')], { default: 'svg' })),
  size: Type.Optional(Type.Integer({ minimum: 128, maximum: 1024, default: 320, description: 'PNG width and height in pixels' })),
});
