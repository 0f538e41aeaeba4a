/**
 * User accounts: the public `User` shape, creation with the password policy (used by
 * registration, the superadmin bootstrap and the CLI's `gatehouse user create`).
 */
import { randomUUID } from 'node:crypto';
import type { User } from '@gatehouse/contracts';
import type { Emit } from '@gatehouse/platform/db';
import type { Database, Tx } from '../../db/schema';
import { checkPasswordPolicy } from '../passwords/passwords.policy';
import type { PasswordHasher } from '../passwords/passwords.service';
import { passwordMinLength, type TenantService } from '../tenants/tenants.service';
import { userEvent } from '../../events';
import { userErrors } from './users.errors';
import { findUserByEmail, insertUser, updateUser, type UserRow } from './users.queries';
import { iso } from '@gatehouse/platform/formats';

/** Roles a user may hold, lowest first. */
export const ROLES = ['user', 'organizer', 'admin', 'superadmin'] as const;


/** The API's User for a row (admin views add `disabled`). */
export function toUser(row: UserRow, opts: { withDisabled?: boolean } = {}): User {
  const u: User = {
    id: row.id,
    tenantId: row.tenant_id,
    email: row.email,
    emailVerified: row.email_verified_at !== null,
    username: row.username,
    displayName: row.display_name,
    roles: row.roles,
    mfaEnabled: row.mfa_enabled,
    createdAt: iso(row.created_at)!,
    lastLoginAt: iso(row.last_login_at),
  };
  if (opts.withDisabled) u.disabled = row.disabled_at !== null;
  return u;
}

/** What `user.events.*` carry about a user. */
export function eventUser(row: UserRow) {
  return { id: row.id, email: row.email, username: row.username, displayName: row.display_name, roles: row.roles };
}

/**
 * Roles as stored: always including `user`, the built-in ones in hierarchy order, then the
 * tenant's custom roles by name (whether those exist is checked where they are assigned:
 * roles.service `assertAssignable`).
 */
export function normalizeRoles(roles: readonly string[]): string[] {
  const set = new Set(['user', ...roles]);
  const builtin: readonly string[] = ROLES;
  const custom = [...set].filter((r) => !builtin.includes(r)).sort();
  return [...ROLES.filter((r) => set.has(r)), ...custom];
}

/** Maps a unique violation on users to `email_taken` / `username_taken`; rethrows anything else. */
export function mapUniqueViolation(err: unknown): never {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e?.code === '23505') {
    const which = `${e.constraint ?? ''} ${e.message ?? ''}`;
    if (which.includes('users_tenant_username')) throw userErrors.usernameTaken();
    throw userErrors.emailTaken();
  }
  throw err;
}

export interface NewAccount {
  email: string;
  password: string;
  username?: string | null;
  displayName?: string | null;
  roles: string[];
  tenantId: string;
}

/**
 * Inserts a user (policy-checked, argon2id-hashed) and its `user.events.created` in the given
 * transaction. Throws `weak_password`, `email_taken`, `username_taken`.
 */
export async function insertAccount(trx: Tx, emit: Emit, input: Omit<NewAccount, 'password'> & { password?: string; passwordHash: string | null }): Promise<UserRow> {
  let row: UserRow;
  try {
    row = await insertUser(trx, {
      id: randomUUID(),
      tenant_id: input.tenantId,
      email: input.email,
      username: input.username ?? null,
      display_name: input.displayName ?? null,
      password_hash: input.passwordHash,
      roles: normalizeRoles(input.roles),
    });
  } catch (err) {
    mapUniqueViolation(err);
  }
  await emit(userEvent('created', input.tenantId, eventUser(row)));
  return row;
}

/**
 * Creates a user account (for the CLI's `gatehouse user create` and the superadmin bootstrap):
 * password policy, argon2id hash, insert and `user.events.created` in one transaction.
 */
export async function createUserAccount(
  deps: { db: Database; hasher: PasswordHasher; tenants: TenantService },
  input: NewAccount,
): Promise<User> {
  const tenant = await deps.tenants.requireActive(input.tenantId);
  await checkPasswordPolicy(input.password, { minLength: passwordMinLength(tenant), email: input.email, username: input.username });
  const passwordHash = await deps.hasher.hash(input.password);
  let row: UserRow;
  try {
    row = await deps.db.withTenant(input.tenantId, (trx, emit) => insertAccount(trx, emit, { ...input, passwordHash }));
  } catch (err) {
    mapUniqueViolation(err);
  }
  return toUser(row);
}

/**
 * Makes sure `email` is a superadmin of `tenantId`: creates the account when missing (first
 * start), otherwise adds the role and leaves the password alone. Idempotent.
 */
export async function ensureSuperadmin(
  deps: { db: Database; hasher: PasswordHasher; tenants: TenantService },
  input: { email: string; password: string; tenantId: string },
): Promise<User> {
  const existing = await deps.db.withTenant(input.tenantId, async (trx, emit) => {
    const row = await findUserByEmail(trx, input.email);
    if (!row) return undefined;
    if (row.roles.includes('superadmin')) return row;
    const updated = (await updateUser(trx, row.id, { roles: normalizeRoles([...row.roles, 'superadmin', 'admin']) }))!;
    await emit(userEvent('updated', input.tenantId, eventUser(updated)));
    return updated;
  });
  if (existing) return toUser(existing);
  try {
    return await createUserAccount(deps, { ...input, roles: ['superadmin', 'admin'] });
  } catch (err) {
    // another replica created it at the same moment: the role is then set
    if ((err as { code?: string }).code === 'email_taken') return ensureSuperadmin(deps, input);
    throw err;
  }
}
