/**
 * Backup codes and sealed TOTP secrets, keyed from the master secret.
 *
 * Backup codes: 10 per set, 12 characters of the RFC 4648 base32 alphabet (60 bits each, from
 * the CSPRNG), shown as XXXX-XXXX-XXXX. Stored as HMAC-SHA-256 under a key derived from the
 * master secret and bound to the user id: a leaked table alone cannot be brute-forced
 * offline, and a hash cannot be moved to another account. A plain hash (not argon2) is
 * enough for 60 random bits and keeps the single-use check one indexed UPDATE.
 */
import { randomInt } from 'node:crypto';
import { createSecretBox, deriveKey, hmac } from '@gatehouse/platform/crypto';

/** Codes per set. */
export const BACKUP_CODE_COUNT = 10;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LENGTH = 12;

/** Creates the helpers for one master secret. */
export function createMfaSecrets(secret: string) {
  const box = createSecretBox(secret, 'mfa-totp');
  const codeKey = deriveKey(secret, 'mfa-backup-codes');

  /** Upper case, without spaces and dashes: what users type in many shapes is one code. */
  function normalize(code: string): string {
    return code.toUpperCase().replace(/[\s-]/g, '');
  }

  return {
    sealSecret: (base32: string) => box.seal(base32),
    openSecret: (sealed: string) => box.open(sealed),

    /** A new set of codes, formatted for display. */
    newBackupCodes(): string[] {
      return Array.from({ length: BACKUP_CODE_COUNT }, () => {
        let s = '';
        for (let i = 0; i < LENGTH; i++) s += ALPHABET[randomInt(ALPHABET.length)];
        return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`;
      });
    },

    /** The stored form of a code for a user; undefined when the input cannot be a code. */
    hashBackupCode(userId: string, code: string): string | undefined {
      const n = normalize(code);
      if (n.length !== LENGTH || ![...n].every((c) => ALPHABET.includes(c))) return undefined;
      return hmac(codeKey, `${userId}:${n}`);
    },
  };
}
export type MfaSecrets = ReturnType<typeof createMfaSecrets>;
