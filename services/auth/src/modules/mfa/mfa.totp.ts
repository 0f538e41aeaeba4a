/**
 * RFC 6238 TOTP as Gatehouse uses it (SHA-1, 6 digits, 30 s, ±1 step), over the `otpauth`
 * package. The functions take the time explicitly so the RFC 6238 Appendix B and RFC 4226
 * vectors run through exactly the code the login uses.
 */
import { Secret, TOTP } from 'otpauth';

/** RFC 6238 parameters used for every enrolled secret. */
export const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Accepted drift in steps either side of now (RFC 6238 §5.2 recommends at most one). */
export const TOTP_WINDOW = 1;
/** Secret size: 160 bits, the HMAC-SHA-1 block-friendly size RFC 4226 §4 asks as a minimum. */
export const TOTP_SECRET_BYTES = 20;

/** A new random secret (CSPRNG, 160 bits), base32 as authenticator apps expect it. */
export function newTotpSecret(): string {
  return new Secret({ size: TOTP_SECRET_BYTES }).base32;
}

/** The time step (RFC 6238 T) of a moment. */
export function totpStep(timestampMs: number, period: number = TOTP_PARAMS.period): number {
  return Math.floor(timestampMs / 1000 / period);
}

/** Options to reproduce the RFC vectors (8 digits); the service always uses {@link TOTP_PARAMS}. */
export interface TotpOptions {
  digits?: number;
  period?: number;
}

/** The code for `secretBase32` at `timestampMs`. */
export function totpAt(secretBase32: string, timestampMs: number, o: TotpOptions = {}): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secretBase32),
    algorithm: TOTP_PARAMS.algorithm,
    digits: o.digits ?? TOTP_PARAMS.digits,
    period: o.period ?? TOTP_PARAMS.period,
    timestamp: timestampMs,
  });
}

/**
 * The time step `code` belongs to when it is valid at `timestampMs` within ±{@link TOTP_WINDOW}
 * steps; `undefined` otherwise. The caller still has to claim the step (once only).
 * otpauth compares in constant time.
 */
export function matchTotp(secretBase32: string, code: string, timestampMs: number, o: TotpOptions = {}): number | undefined {
  const digits = o.digits ?? TOTP_PARAMS.digits;
  const period = o.period ?? TOTP_PARAMS.period;
  if (!new RegExp(`^\\d{${digits}}$`).test(code)) return undefined;
  const delta = TOTP.validate({
    token: code,
    secret: Secret.fromBase32(secretBase32),
    algorithm: TOTP_PARAMS.algorithm,
    digits,
    period,
    timestamp: timestampMs,
    window: TOTP_WINDOW,
  });
  return delta === null ? undefined : totpStep(timestampMs, period) + delta;
}

/** The `otpauth://` URI authenticator apps scan. */
export function otpauthUri(secretBase32: string, issuer: string, account: string): string {
  return new TOTP({ issuer, label: account, secret: Secret.fromBase32(secretBase32), ...TOTP_PARAMS }).toString();
}
