/**
 * Passkeys (WebAuthn) with @simplewebauthn/server: registration for a signed-in user, and
 * passwordless sign-in with discoverable credentials.
 *
 * - RP id: the host of PUBLIC_URL, or the tenant's host `<slug>.<BASE_DOMAIN>` when the
 *   browser is on it. Expected origins: PUBLIC_URL, the tenant host (PUBLIC_URL's scheme and
 *   port), and the tenant setting `allowedOrigins`.
 * - Challenges live in the shared KvStore for 5 minutes and are taken (atomically deleted)
 *   before verification, so each works once, also against parallel replays.
 * - A sign-in with user verification is multi-factor by itself: `amr: ['hwk', 'user']`
 *   (RFC 8176) and tokens at once. Without it the passkey is one factor (`['hwk']`) and goes
 *   through the same second-factor gate as a password.
 */
import { randomUUID } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Logger } from 'pino';
import type { KvStore } from '@gatehouse/platform/kv';
import type { Database } from '../../db/schema';
import { sha256 } from '@gatehouse/platform/crypto';
import { AppError } from '@gatehouse/platform/errors';
import type { RequestContext } from '../../context';
import type { LoginGate, LoginResult } from '../mfa/mfa.login';
import type { Tenant, TenantService } from '../tenants/tenants.service';
import { throttleErrors } from '../throttle/throttle.errors';
import type { Throttle } from '../throttle/throttle.service';
import { findUserById } from '../users/users.queries';
import { authErrors } from '../auth/auth.errors';
import { passkeyErrors } from './passkeys.errors';
import { deletePasskey, findByCredentialId, insertPasskey, listPasskeys, touchPasskey, type PasskeyRow } from './passkeys.queries';

/**
 * @simplewebauthn/server (with its ASN.1 and X.509 packages, ~24 MB of RSS) is imported on the
 * first passkey ceremony, not when the auth service loads (bench/results/*-embedded-pglite.md).
 */
let webauthnLibrary: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (webauthnLibrary ??= import('@simplewebauthn/server'));

/** How long a challenge may be answered. */
export const CHALLENGE_TTL_SEC = 300;

export interface PasskeyServiceDeps {
  db: Database;
  kv: KvStore;
  tenants: TenantService;
  gate: LoginGate;
  throttle: Throttle;
  publicUrl: string;
  baseDomain: string;
  logger: Logger;
}

interface ChallengeRecord {
  kind: 'register' | 'login';
  tenantId: string;
  userId?: string;
}

/** The challenge inside a response's clientDataJSON (verified again by the library). */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined;
  try {
    const c = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    return typeof c === 'string' && c.length <= 512 ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the passkey service. */
export function createPasskeyService(deps: PasskeyServiceDeps) {
  const { db, kv, tenants, gate, throttle, logger } = deps;
  const pub = new URL(deps.publicUrl);

  /** RP ids and origins a tenant's passkeys may use, and the RP id for a browser at `origin`. */
  function relyingParty(tenant: Tenant, origin: string | undefined) {
    const tenantHost = `${tenant.slug}.${deps.baseDomain}`;
    const allowed = Array.isArray(tenant.settings.allowedOrigins) ? tenant.settings.allowedOrigins.filter((o): o is string => typeof o === 'string') : [];
    const origins = [...new Set([pub.origin, `${pub.protocol}//${tenantHost}${pub.port ? `:${pub.port}` : ''}`, ...allowed])];
    let rpID = pub.hostname;
    if (origin && origins.includes(origin)) {
      const host = new URL(origin).hostname;
      if (host === tenantHost || host.endsWith(`.${tenantHost}`)) rpID = tenantHost;
    }
    return { rpID, rpIDs: [...new Set([pub.hostname, tenantHost])], origins };
  }

  const key = (challenge: string) => `auth:pk:ch:${sha256(challenge)}`;

  async function storeChallenge(challenge: string, rec: ChallengeRecord): Promise<void> {
    try {
      await kv.set(key(challenge), JSON.stringify(rec), CHALLENGE_TTL_SEC * 1000);
    } catch (err) {
      throw throttleErrors.storeDown(err);
    }
  }

  /** Takes the challenge a response answers; undefined unless it is live and of this kind, tenant (and user). */
  async function takeChallenge(clientDataJSON: unknown, want: ChallengeRecord): Promise<string | undefined> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    let raw: string | null;
    try {
      raw = await kv.take(key(challenge));
    } catch (err) {
      throw throttleErrors.storeDown(err);
    }
    if (!raw) return undefined;
    const rec = JSON.parse(raw) as ChallengeRecord;
    if (rec.kind !== want.kind || rec.tenantId !== want.tenantId || rec.userId !== want.userId) return undefined;
    return challenge;
  }

  function toPasskey(r: PasskeyRow) {
    return {
      id: r.id,
      name: r.name,
      deviceType: r.device_type,
      backedUp: r.backed_up,
      createdAt: new Date(r.created_at).toISOString(),
      lastUsedAt: r.last_used_at ? new Date(r.last_used_at).toISOString() : null,
    };
  }

  return {
    /** `POST /passkeys/register/options` (signed in). */
    async registrationOptions(tenantId: string, userId: string, origin: string | undefined) {
      const tenant = await tenants.requireActive(tenantId);
      const { user, existing } = await db.withTenant(tenant.id, async (trx) => ({ user: await findUserById(trx, userId), existing: await listPasskeys(trx, userId) }));
      if (!user) throw passkeyErrors.notFound();
      const rp = relyingParty(tenant, origin);
      const { generateRegistrationOptions } = await webauthn();
      const options = await generateRegistrationOptions({
        rpName: tenant.name || 'Gatehouse',
        rpID: rp.rpID,
        userName: user.email,
        userDisplayName: user.display_name ?? user.email,
        userID: Buffer.from(user.id.replace(/-/g, ''), 'hex'),
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: p.transports })),
        // discoverable, so the passkey signs in without typing a name
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
        timeout: CHALLENGE_TTL_SEC * 1000,
      });
      await storeChallenge(options.challenge, { kind: 'register', tenantId: tenant.id, userId });
      return options as unknown as Record<string, unknown>;
    },

    /** `POST /passkeys/register/verify` (signed in): stores the verified credential. */
    async register(tenantId: string, userId: string, input: { response: unknown; name?: string }, origin: string | undefined) {
      const tenant = await tenants.requireActive(tenantId);
      const response = input.response as RegistrationResponseJSON;
      const challenge = await takeChallenge(response.response?.clientDataJSON, { kind: 'register', tenantId: tenant.id, userId });
      if (!challenge) throw passkeyErrors.invalidRegistration('The challenge is unknown, expired or used; start again.');
      const rp = relyingParty(tenant, origin);
      const { verifyRegistrationResponse } = await webauthn();
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: rp.origins, expectedRPID: rp.rpIDs, requireUserVerification: false });
      } catch (err) {
        logger.debug({ err }, 'passkey registration rejected');
        throw passkeyErrors.invalidRegistration();
      }
      if (!verified.verified || !verified.registrationInfo) throw passkeyErrors.invalidRegistration();
      const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
      try {
        const row = await db.withTenant(tenant.id, (trx) =>
          insertPasskey(trx, {
            id: randomUUID(),
            tenant_id: tenant.id,
            user_id: userId,
            credential_id: credential.id,
            public_key: credential.publicKey,
            counter: credential.counter,
            transports: (credential.transports ?? []).map(String),
            device_type: credentialDeviceType,
            backed_up: credentialBackedUp,
            name: input.name?.trim() || null,
          }),
        );
        return toPasskey(row);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new AppError('passkey_exists', 409, { detail: 'This passkey is registered already.' });
        throw err;
      }
    },

    /** `POST /passkeys/login/options`: a challenge for a discoverable credential. */
    async loginOptions(tenantId: string, origin: string | undefined) {
      const tenant = await tenants.requireActive(tenantId);
      const rp = relyingParty(tenant, origin);
      const { generateAuthenticationOptions } = await webauthn();
      const options = await generateAuthenticationOptions({ rpID: rp.rpID, userVerification: 'preferred', timeout: CHALLENGE_TTL_SEC * 1000 });
      await storeChallenge(options.challenge, { kind: 'login', tenantId: tenant.id });
      return options as unknown as Record<string, unknown>;
    },

    /** `POST /passkeys/login/verify`: tokens (or the second-factor challenge without user verification). */
    async login(tenantId: string, input: { response: unknown }, origin: string | undefined, ctx: RequestContext): Promise<LoginResult> {
      const tenant = await tenants.requireActive(tenantId);
      await throttle.checkIp('password', ctx.ip);
      const response = input.response as AuthenticationResponseJSON;
      const fail = async (): Promise<never> => {
        await throttle.failIp('password', ctx.ip);
        throw passkeyErrors.invalidAssertion();
      };
      const challenge = await takeChallenge(response.response?.clientDataJSON, { kind: 'login', tenantId: tenant.id });
      if (!challenge) return fail();
      const passkey = await db.withTenantRead(tenant.id, (trx) => findByCredentialId(trx, response.id));
      if (!passkey) return fail();
      const rp = relyingParty(tenant, origin);
      const { verifyAuthenticationResponse } = await webauthn();
      let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        result = await verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: rp.origins,
          expectedRPID: rp.rpIDs,
          credential: { id: passkey.credential_id, publicKey: new Uint8Array(passkey.public_key), counter: Number(passkey.counter), transports: passkey.transports as never },
          requireUserVerification: false,
        });
      } catch (err) {
        logger.debug({ err }, 'passkey assertion rejected');
        return fail();
      }
      if (!result.verified) return fail();
      const info = result.authenticationInfo;
      const user = await db.withTenant(tenant.id, async (trx) => {
        await touchPasskey(trx, passkey.id, info.newCounter, info.credentialBackedUp);
        return findUserById(trx, passkey.user_id);
      });
      if (!user) return fail();
      if (user.disabled_at !== null) throw authErrors.accountDisabled();
      if (info.userVerified) return gate.issue(tenant, user, ['hwk', 'user'], ctx, 'passkey');
      return gate.begin(tenant, user, ['hwk'], ctx, 'passkey');
    },

    /** `GET /passkeys`. */
    async list(tenantId: string, userId: string) {
      const rows = await db.withTenant(tenantId, (trx) => listPasskeys(trx, userId));
      return { items: rows.map(toPasskey) };
    },

    /** `DELETE /passkeys/{id}`. */
    async remove(tenantId: string, userId: string, id: string): Promise<void> {
      if (!(await db.withTenant(tenantId, (trx) => deletePasskey(trx, userId, id)))) throw passkeyErrors.notFound();
    },
  };
}
export type PasskeyService = ReturnType<typeof createPasskeyService>;
