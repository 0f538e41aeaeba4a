/**
 * Password rules (ASVS 6.2, NIST 800-63B): 8..256 characters (a tenant may raise the
 * minimum), any Unicode, no composition rules, compared whole; rejected when on the
 * common-password blocklist or equal to the email, its local part or the username.
 * Length counts Unicode code points of the NFC form, the same form that is hashed.
 */
import { loadOnFirstUse } from '@gatehouse/platform/lazy';
import { passwordErrors } from './passwords.errors';

export const PASSWORD_MAX_LENGTH = 256;

/**
 * The 49k most common passwords of @zxcvbn-ts/language-common, lower-cased, loaded once, on
 * the first password set (registration, an admin's or a tenant's new account), not when the
 * service starts: the package decompresses all of its dictionaries as it loads (~3 MB of heap,
 * the Set ~4 MB more), which a process that only logs people in never needs (issue 13).
 * A package that cannot be loaded answers 503 `service_unavailable`, and the next call tries again.
 */
const commonPasswords = loadOnFirstUse('The password policy', () =>
  import('@zxcvbn-ts/language-common').then(({ dictionary }) => new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()))),
);

/** The form every password is hashed and compared in. */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** Throws 400 `weak_password` with a detail naming the rule the password breaks. */
export async function checkPasswordPolicy(password: string, opts: { minLength: number; email?: string; username?: string | null }): Promise<void> {
  const pw = normalizePassword(password);
  const length = [...pw].length;
  if (length < opts.minLength) throw passwordErrors.weak(`The password must be at least ${opts.minLength} characters long.`);
  if (length > PASSWORD_MAX_LENGTH) throw passwordErrors.weak(`The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`);
  const lower = pw.toLowerCase();
  if ((await commonPasswords()).has(lower)) throw passwordErrors.weak('The password is on the list of commonly used passwords.');
  if (opts.email) {
    const email = opts.email.normalize('NFC').toLowerCase();
    const local = email.split('@')[0] ?? '';
    if (lower === email || (local.length > 0 && lower === local)) throw passwordErrors.weak('The password must not be the email address or its local part.');
  }
  if (opts.username && lower === opts.username.normalize('NFC').toLowerCase()) throw passwordErrors.weak('The password must not be the username.');
}
