/**
 * Attendance QR tokens: what a member's QR code encodes and an organizer's scanner sends back.
 *
 * Format: `v1.<payload>.<mac>`, both base64url. The payload is 48 fixed bytes (user id 16,
 * tenant id 16, expiry as uint32 epoch seconds 4, random nonce 12) rather than JSON: the
 * token stays ~110 characters, so the QR code stays coarse enough to scan from a phone
 * screen. The MAC is HMAC-SHA-256 over `v1.<payload>` with a key derived from the master
 * secret for this purpose only. Hand-written rather than a JWT library because a JWT would
 * double the length (header, JSON claims) for no gain: only this service issues and checks it.
 */
import { randomBytes } from 'node:crypto';
import { hmac, safeEqual } from '@gatehouse/platform/crypto';
import { isUuid } from '@gatehouse/platform/formats';

const PREFIX = 'v1';
const PAYLOAD_BYTES = 48;
const TOKEN_RE = /^v1\.([A-Za-z0-9_-]{64})\.([A-Za-z0-9_-]{43})$/;

/** What a valid token says. */
export interface QrClaims {
  userId: string;
  tenantId: string;
  expiresAt: Date;
}

/** Why a token was refused (for logs; callers answer `invalid_qr_token` for all of them). */
export type QrRejection = 'malformed' | 'bad_signature' | 'expired' | 'other_tenant';

function uuidToBytes(id: string): Buffer {
  if (!isUuid(id)) throw new Error(`not a uuid: ${id}`);
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Creates the token issuer/verifier. `key` is the purpose-bound key
 * (`deriveKey(secret, 'qr-token')`), `ttlSec` the lifetime of each token.
 */
export function createQrTokens(opts: { key: Buffer; ttlSec: number; clock: () => Date }) {
  const { key, ttlSec, clock } = opts;
  return {
    ttlSec,

    /** A fresh token (new nonce, new expiry) for the user: tokens rotate on every call. */
    issue(userId: string, tenantId: string): { token: string; expiresAt: Date } {
      const exp = Math.floor(clock().getTime() / 1000) + ttlSec;
      const payload = Buffer.alloc(PAYLOAD_BYTES);
      uuidToBytes(userId).copy(payload, 0);
      uuidToBytes(tenantId).copy(payload, 16);
      payload.writeUInt32BE(exp, 32);
      randomBytes(12).copy(payload, 36);
      const body = `${PREFIX}.${payload.toString('base64url')}`;
      return { token: `${body}.${hmac(key, body)}`, expiresAt: new Date(exp * 1000) };
    },

    /**
     * Checks the token for `tenantId`. The MAC is compared in constant time before anything in
     * the payload is trusted; a token is expired from its `expiresAt` second on.
     */
    verify(token: string, tenantId: string): { ok: true; claims: QrClaims } | { ok: false; reason: QrRejection } {
      const m = TOKEN_RE.exec(token);
      if (!m) return { ok: false, reason: 'malformed' };
      const body = `${PREFIX}.${m[1]}`;
      // Comparing the canonical encoding also refuses a MAC re-spelled with other padding bits.
      if (!safeEqual(hmac(key, body), m[2]!)) return { ok: false, reason: 'bad_signature' };
      const payload = Buffer.from(m[1]!, 'base64url');
      if (payload.length !== PAYLOAD_BYTES) return { ok: false, reason: 'malformed' };
      const claims: QrClaims = {
        userId: bytesToUuid(payload.subarray(0, 16)),
        tenantId: bytesToUuid(payload.subarray(16, 32)),
        expiresAt: new Date(payload.readUInt32BE(32) * 1000),
      };
      if (clock().getTime() >= claims.expiresAt.getTime()) return { ok: false, reason: 'expired' };
      if (claims.tenantId.toLowerCase() !== tenantId.toLowerCase()) return { ok: false, reason: 'other_tenant' };
      return { ok: true, claims };
    },
  };
}
export type QrTokens = ReturnType<typeof createQrTokens>;
