/**
 * Access-token signing keys and the JWKS. Keys are generated on first start, the private
 * half sealed with the master secret (AES-256-GCM) in `signing_keys`. Rotation makes a new
 * key current and keeps retired keys published for the access-token lifetime plus a margin,
 * so tokens signed before a rotation stay valid until they expire.
 */
import { randomUUID } from 'node:crypto';
import { withSpan } from '@gatehouse/platform/tracing';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type JWTVerifyGetKey, type CryptoKey } from 'jose';
import type { Logger } from 'pino';
import type { Database, Db } from '../../db/schema';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { countCurrent, insertKey, listPublishedKeys, lockKeys, retireOthers, type SigningKeyRow } from './keys.queries';

export type SigningAlgorithm = 'EdDSA' | 'ES256' | 'RS256';

/** Claims the auth service puts in an access token besides iss, aud, iat, exp and jti. */
export interface AccessTokenInput {
  sub: string;
  tid: string;
  sid: string;
  roles: string[];
  /** the union of the permissions of the user's custom roles */
  permissions?: string[];
  amr: string[];
  /** when the claims were read (epoch ms; default now): read them after this moment */
  issuedAtMs?: number;
}

export interface KeyServiceOptions {
  db: Database;
  secret: string;
  algorithm: SigningAlgorithm;
  issuer: string;
  audience: string;
  /** how long a retired key stays published: the longest access-token lifetime plus a margin */
  overlapSec: number;
  logger: Logger;
  /** how often the key set is re-read, so a rotation by another process reaches this one (default 60 s) */
  reloadMs?: number;
}

interface LoadedKey {
  kid: string;
  alg: string;
  publicJwk: JWK;
  publicKey: CryptoKey | Uint8Array;
  privateKey?: CryptoKey | Uint8Array;
  retired: boolean;
}

/** Creates a new key pair and stores it (private half sealed). Returns its kid. */
async function generateAndStore(db: Db, secret: string, alg: SigningAlgorithm): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  const box = createSecretBox(secret, 'signing-keys');
  await insertKey(db, { kid, alg, public_jwk: publicJwk, private_sealed: box.seal(JSON.stringify(privateJwk)) });
  return kid;
}

/**
 * Makes a new signing key current and retires the others (still published for the overlap).
 * Exported for the CLI (`gatehouse keys rotate`) through {@link KeyService.rotate} or directly.
 */
export async function rotateSigningKeyIn(db: Database, secret: string, alg: SigningAlgorithm): Promise<string> {
  return db.admin.transaction().execute(async (trx) => {
    await lockKeys(trx);
    const kid = await generateAndStore(trx, secret, alg);
    await retireOthers(trx, kid);
    return kid;
  });
}

/** Creates the key service; call `start()` before signing. */
export function createKeyService(opts: KeyServiceOptions) {
  const { db, logger } = opts;
  const box = createSecretBox(opts.secret, 'signing-keys');
  let keys = new Map<string, LoadedKey>();
  let current: LoadedKey | undefined;
  let lastReload = 0;
  let reloading: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function load(): Promise<void> {
    const rows = await listPublishedKeys(db.admin, opts.overlapSec);
    const next = new Map<string, LoadedKey>();
    let newest: LoadedKey | undefined;
    for (const row of rows) {
      const k = await toLoaded(row, keys.get(row.kid));
      next.set(k.kid, k);
      if (!k.retired && !newest) newest = k;
    }
    if (newest && !newest.privateKey) {
      const row = rows.find((r) => r.kid === newest!.kid)!;
      newest.privateKey = await importJWK(JSON.parse(box.open(row.private_sealed)) as JWK, row.alg);
    }
    keys = next;
    current = newest;
    lastReload = Date.now();
  }

  async function toLoaded(row: SigningKeyRow, known: LoadedKey | undefined): Promise<LoadedKey> {
    const retired = row.retired_at !== null;
    if (known) return { ...known, retired };
    const publicJwk = (typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk) as JWK;
    return { kid: row.kid, alg: row.alg, publicJwk, publicKey: await importJWK(publicJwk, row.alg), retired };
  }

  /** Re-reads keys at most once a second, however many unknown kids arrive. */
  function reload(force = false): Promise<void> {
    if (!force && Date.now() - lastReload < 1000) return Promise.resolve();
    reloading ??= load().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  return {
    /** Loads the keys, generating the first one when there is none (once, across replicas). */
    async start(): Promise<void> {
      await db.admin.transaction().execute(async (trx) => {
        await lockKeys(trx);
        if ((await countCurrent(trx)) === 0) {
          const kid = await generateAndStore(trx, opts.secret, opts.algorithm);
          logger.info({ kid, alg: opts.algorithm }, 'signing key generated');
        }
      });
      await load();
      timer = setInterval(() => {
        reload(true).catch((err: unknown) => logger.warn({ err }, 'signing key reload failed'));
      }, opts.reloadMs ?? 60_000);
      timer.unref();
    },

    stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
    },

    /** Signs an access token with the current key. */
    async sign(input: AccessTokenInput, ttlSec: number): Promise<{ token: string; expiresIn: number }> {
      if (!current?.privateKey) await reload(true);
      const key = current;
      const privateKey = key?.privateKey;
      if (!key || !privateKey) throw new Error('no current signing key');
      // `iat` with millisecond precision (a JSON number may have a fraction, RFC 7519 NumericDate):
      // revocation cuts (platform/revocation.ts) compare against it, so a token issued just
      // after a cut, in the same second, is not covered by it (roles.service explains why).
      const iat = (input.issuedAtMs ?? Date.now()) / 1000;
      const claims: Record<string, unknown> = { tid: input.tid, sid: input.sid, roles: input.roles, amr: input.amr };
      if (input.permissions) claims.permissions = input.permissions;
      const unsigned = new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setSubject(input.sub)
        .setIssuedAt(iat)
        .setExpirationTime(Math.floor(iat) + ttlSec)
        .setJti(randomUUID());
      // a span of its own: RS256 signing is the second costliest step of a login after argon2
      const token = await withSpan(`jwt sign ${key.alg}`, { 'gatehouse.jwt.kid': key.kid }, () => unsigned.sign(privateKey));
      return { token, expiresIn: ttlSec };
    },

    /**
     * Key lookup for `createTokenVerifier`: the kid is an opaque map key (never a path or a
     * query), the header's alg must be the key's, and an unknown kid triggers one reload
     * (a rotation made by another replica).
     */
    getKey: (async (header) => {
      const kid = typeof header.kid === 'string' ? header.kid : undefined;
      if (!kid) throw new Error('token has no kid');
      let k = keys.get(kid);
      if (!k) {
        await reload();
        k = keys.get(kid);
      }
      if (!k || k.alg !== header.alg) throw new Error('unknown signing key');
      return k.publicKey;
    }) as JWTVerifyGetKey,

    /** The published JWK set (current and recently retired keys), straight from the database. */
    async jwks(): Promise<{ keys: JWK[] }> {
      const rows = await listPublishedKeys(db.admin, opts.overlapSec);
      return { keys: rows.map((r) => (typeof r.public_jwk === 'string' ? JSON.parse(r.public_jwk) : r.public_jwk) as JWK) };
    },

    /** Rotates: a new current key; the previous ones stay published for the overlap. Returns the new kid. */
    async rotate(): Promise<string> {
      const kid = await rotateSigningKeyIn(db, opts.secret, opts.algorithm);
      await reload(true);
      logger.info({ kid }, 'signing key rotated');
      return kid;
    },

    /**
     * The private JWKs of the published keys, the current one first, for the OpenID provider
     * (modules/oidc): it signs ID tokens and JWT access tokens with the current key and
     * publishes the same public keys as {@link jwks}, so there is one JWKS.
     */
    async signingJwks(): Promise<JWK[]> {
      const rows = await listPublishedKeys(db.admin, opts.overlapSec);
      const ordered = [...rows.filter((r) => r.retired_at === null), ...rows.filter((r) => r.retired_at !== null)];
      return ordered.map((r) => ({ ...(JSON.parse(box.open(r.private_sealed)) as JWK), use: 'sig' }));
    },

    /** The kid new tokens are signed with. */
    currentKid(): string | undefined {
      return current?.kid;
    },
  };
}
export type KeyService = ReturnType<typeof createKeyService>;
