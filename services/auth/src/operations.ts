/**
 * Operator operations on the auth database, for the `gatehouse` CLI: a small facade, so tools
 * reach the auth service's own functions (same locks, checks, sealing and events as the API)
 * without importing its modules. The CLI opens the database with `openServiceDatabase`.
 */
import type { User } from '@gatehouse/contracts';
import type { Config } from '@gatehouse/platform/config';
import type { Database } from './db/schema';
import type { Logger } from '@gatehouse/platform/logger';
import type { SharedDeps } from '@gatehouse/platform/service';
import { createAuthDeps, signingKeyOverlapSec } from './deps';
import { listPublishedKeys } from './modules/keys/keys.queries';
import { createKeyService } from './modules/keys/keys.service';
import { createPasswordHasher } from './modules/passwords/passwords.service';
import { createTenant, listTenants, setTenantStatus } from './modules/tenants/tenants.admin';
import { createTenantService, normalizeSlug, type Tenant } from './modules/tenants/tenants.service';
import { validateSettings } from './modules/tenants/tenants.settings';
import { createUserAccount as createAccount } from './modules/users/users.service';

export type { Tenant } from './modules/tenants/tenants.service';
export type { DB as AuthTables } from './db/schema';
export { authPurgeTasks } from './modules/purge/purge.service';
export { signingKeyOverlapSec } from './deps';

/** A signing key as `gatehouse keys list` shows it. */
export interface SigningKeyInfo {
  kid: string;
  alg: string;
  createdAt: string;
  status: 'current' | 'retired';
  retiredAt: string | null;
  /** when a retired key leaves the JWKS */
  publishedUntil: string | null;
}

/** The keys in the JWKS: the current one and retired ones still published, newest first. */
export async function listSigningKeys(db: Database, config: Config): Promise<SigningKeyInfo[]> {
  const overlapSec = signingKeyOverlapSec(config);
  const rows = await listPublishedKeys(db.admin, overlapSec);
  return rows.map((r) => {
    const retiredAt = r.retired_at ? new Date(r.retired_at) : undefined;
    return {
      kid: r.kid,
      alg: r.alg,
      createdAt: new Date(r.created_at).toISOString(),
      status: retiredAt ? 'retired' : 'current',
      retiredAt: retiredAt?.toISOString() ?? null,
      publishedUntil: retiredAt ? new Date(retiredAt.getTime() + overlapSec * 1000).toISOString() : null,
    };
  });
}

/**
 * Makes a new signing key current (the same lock and sealing as a running service); previous
 * keys stay in the JWKS for the access-token lifetime plus a margin. Returns the new kid.
 */
export async function rotateSigningKey(o: { config: Config; db: Database; secret: string; logger: Logger }): Promise<string> {
  const { tokens } = o.config;
  const keys = createKeyService({
    db: o.db,
    secret: o.secret,
    algorithm: tokens.algorithm,
    issuer: tokens.issuer,
    audience: tokens.audience,
    overlapSec: signingKeyOverlapSec(o.config),
    logger: o.logger,
  });
  try {
    return await keys.rotate();
  } finally {
    keys.stop();
  }
}

/** The tenant with this slug, or undefined. */
export async function findTenant(db: Database, slug: string): Promise<Tenant | undefined> {
  return createTenantService({ db }).resolve({ slug });
}

/**
 * Creates a user with the password policy and an argon2id hash, its `user.events.created`
 * in the same transaction (the unit of work). Throws AppError `weak_password`,
 * `email_taken`, `username_taken`, `tenant_not_found`.
 */
export async function createUserAccount(
  deps: { db: Database },
  input: { email: string; password: string; username?: string; displayName?: string; roles: string[]; tenantId: string },
): Promise<User> {
  return createAccount({ db: deps.db, hasher: createPasswordHasher(), tenants: createTenantService({ db: deps.db }) }, { ...input });
}

/** Checks what `tenant create` can check without a database: the slug and the settings. Throws AppError. */
export function checkNewTenant(slug: string, settings: unknown): void {
  normalizeSlug(slug);
  validateSettings(settings, 'body.settings');
}

/**
 * Tenant management as the admin API does it (changes and their events commit together; a
 * disable revokes sessions and publishes the revocation to `shared.revocations`). Call
 * `idle()` before the process exits: a disable schedules a follow-up sweep.
 */
export function createTenantOperations(o: { config: Config; shared: SharedDeps; db: Database; secret: string }) {
  const deps = createAuthDeps(o);
  type Create = Parameters<typeof createTenant>[1];
  return {
    create: (input: Omit<Create, 'settings'> & { settings?: unknown }) => createTenant(deps, { ...input, settings: input.settings as Create['settings'] }),
    list: (q: { status?: 'active' | 'disabled'; query?: string }) => listTenants(deps, { ...q, all: true }),
    get: (slug: string) => deps.tenantAdmin.get({ slug }),
    setStatus: (slug: string, status: 'active' | 'disabled') => setTenantStatus(deps, { slug }, status),
    idle: () => deps.background.idle(),
  };
}
