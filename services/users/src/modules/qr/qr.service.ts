/** The caller's attendance QR: a fresh signed token per request, rendered with `qrcode`. */
import { loadOnFirstUse } from '@gatehouse/platform/lazy';
import type { QrTokens } from './qr.token';

// Loaded with the first QR rendered, not at start (~60 files, ~20 ms of a start); 503 if it cannot be.
const qrcode = loadOnFirstUse('The QR code renderer', () => import('qrcode').then((m) => m.default));

/** Creates the QR code service. */
export function createQrService(deps: { tokens: QrTokens }) {
  const { tokens } = deps;
  return {
    /** A new token (tokens rotate: every call gets its own nonce and expiry). */
    token(tenantId: string, userId: string): { token: string; expiresAt: string } {
      const t = tokens.issue(userId, tenantId);
      return { token: t.token, expiresAt: t.expiresAt.toISOString() };
    },

    /** The QR image of a new token. Error correction M: survives glare on a phone screen. */
    async render(tenantId: string, userId: string, format: 'svg' | 'png', size: number): Promise<{ body: string | Buffer; contentType: string; expiresAt: string }> {
      const t = tokens.issue(userId, tenantId);
      const expiresAt = t.expiresAt.toISOString();
      if (format === 'png') {
        const body = await (await qrcode()).toBuffer(t.token, { type: 'png', errorCorrectionLevel: 'M', margin: 4, width: size });
        return { body, contentType: 'image/png', expiresAt };
      }
      const body = await (await qrcode()).toString(t.token, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
      return { body, contentType: 'image/svg+xml; charset=utf-8', expiresAt };
    },
  };
}
export type QrService = ReturnType<typeof createQrService>;
