/**
 * MFA tokens: the proof that a first factor (password, federated login, a passkey without
 * user verification) succeeded, handed out instead of tokens while a second factor is due.
 * Opaque 256-bit values kept in the shared KvStore under their sha256 only, valid 5 minutes,
 * bound to tenant, user and the first factor's `amr`, taken (atomically deleted) by the one
 * request that completes the login. They carry no signature and no dots, so nothing can
 * mistake one for an access token.
 */
import type { KvStore } from '@gatehouse/platform/kv';
import { randomToken, sha256 } from '@gatehouse/platform/crypto';
import { guardStore, throttleErrors } from '../throttle/throttle.errors';

/** Lifetime of an MFA token. */
export const MFA_TOKEN_TTL_SEC = 300;
/** Attempts one MFA token allows, successful or not, before it is refused. */
export const MFA_TOKEN_MAX_ATTEMPTS = 10;

/** What an MFA token stands for. */
export interface MfaTokenRecord {
  tenantId: string;
  userId: string;
  /** RFC 8176 methods of the first factor, e.g. ['pwd'] */
  amr: string[];
  /** the first factor, for the login_succeeded event (password, oauth:google, passkey) */
  method: string;
  /** true when the tenant requires MFA and the user must enroll first */
  enrollment: boolean;
}

const key = (token: string) => `auth:mfa:tok:${sha256(token)}`;

function parse(v: string | null): MfaTokenRecord | undefined {
  if (v === null) return undefined;
  try {
    return JSON.parse(v) as MfaTokenRecord;
  } catch {
    return undefined;
  }
}

/** Creates the MFA token store over the shared KvStore. */
export function createMfaTokens(kv: KvStore) {
  return {
    /** Issues a token for a first factor. */
    issue(rec: MfaTokenRecord): Promise<string> {
      return guardStore(async () => {
        const token = `mfa_${randomToken(32)}`;
        await kv.set(key(token), JSON.stringify(rec), MFA_TOKEN_TTL_SEC * 1000);
        return token;
      });
    },

    /** Reads a token without using it up; undefined when unknown or expired. */
    peek(token: string): Promise<MfaTokenRecord | undefined> {
      return guardStore(async () => (token.length > 128 ? undefined : parse(await kv.get(key(token)))));
    },

    /** Counts an attempt with the token; throws 429 past {@link MFA_TOKEN_MAX_ATTEMPTS}. */
    attempt(token: string): Promise<void> {
      return guardStore(async () => {
        const { count, resetMs } = await kv.incr(`${key(token)}:n`, MFA_TOKEN_TTL_SEC * 1000);
        if (count > MFA_TOKEN_MAX_ATTEMPTS) throw throttleErrors.tooMany(resetMs);
      });
    },

    /** Uses the token up: of concurrent takers exactly one gets the record. */
    take(token: string): Promise<MfaTokenRecord | undefined> {
      return guardStore(async () => parse(await kv.take(key(token))));
    },
  };
}
export type MfaTokens = ReturnType<typeof createMfaTokens>;
