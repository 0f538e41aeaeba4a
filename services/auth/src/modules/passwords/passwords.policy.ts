/**
 * Password rules (ASVS 6.2, NIST 800-63B): 8..256 characters (a tenant may raise the
 * minimum), any Unicode, no composition rules, compared whole; rejected when on the
 * common-password blocklist or equal to the email, its local part or the username.
 * Length counts Unicode code points of the NFC form, the same form that is hashed.
 */
import { dictionary } from '@zxcvbn-ts/language-common';
import { passwordErrors } from './passwords.errors';

export const PASSWORD_MAX_LENGTH = 256;

let blocklist: Set<string> | undefined;

/** The 49k most common passwords of @zxcvbn-ts/language-common, lower-cased, loaded once. */
function commonPasswords(): Set<string> {
  blocklist ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return blocklist;
}

/** The form every password is hashed and compared in. */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** Throws 400 `weak_password` with a detail naming the rule the password breaks. */
export function checkPasswordPolicy(password: string, opts: { minLength: number; email?: string; username?: string | null }): void {
  const pw = normalizePassword(password);
  const length = [...pw].length;
  if (length < opts.minLength) throw passwordErrors.weak(`The password must be at least ${opts.minLength} characters long.`);
  if (length > PASSWORD_MAX_LENGTH) throw passwordErrors.weak(`The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`);
  const lower = pw.toLowerCase();
  if (commonPasswords().has(lower)) throw passwordErrors.weak('The password is on the list of commonly used passwords.');
  if (opts.email) {
    const email = opts.email.normalize('NFC').toLowerCase();
    const local = email.split('@')[0] ?? '';
    if (lower === email || (local.length > 0 && lower === local)) throw passwordErrors.weak('The password must not be the email address or its local part.');
  }
  if (opts.username && lower === opts.username.normalize('NFC').toLowerCase()) throw passwordErrors.weak('The password must not be the username.');
}
