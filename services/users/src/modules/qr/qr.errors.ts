/** Error codes of attendance QR tokens (part of the API contract). */
import { AppError } from '@gatehouse/platform/errors';

/** Errors of QR tokens, by name. */
export const qrErrors = {
  /** Expired, forged, malformed or another tenant's token: one answer for all, by design. */
  invalidQrToken: () =>
    new AppError('invalid_qr_token', 400, {
      detail: 'The QR code is not valid: it may have expired (they rotate every minute), or it was not issued for this tenant.',
    }),
};
