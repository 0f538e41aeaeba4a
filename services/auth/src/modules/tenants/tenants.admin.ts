/**
 * Tenant management for superadmins (`/api/v1/admin/tenants`) and the CLI (`gatehouse
 * tenant …`): create, list, read, update, disable. This is cross-tenant work by nature, so it
 * runs on the owner connection (`db.admin`); where it writes tenant-owned rows (the first
 * admin, revoked sessions) it first scopes the transaction to that tenant, so the RLS policies
 * hold even for an owner that is not a superuser.
 *
 * Every change commits with its `tenant.events.created|updated` outbox event (the gateway
 * drops its tenant cache on these). Disabling revokes every session of the tenant in the same
 * transaction, then cuts every access token issued so far through the shared revocation list,
 * so they fail at every verifier within a second.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { DEFAULT_TENANT_ID, EventTypes, type TenantEventData, type User } from '@gatehouse/contracts';
import type { Emit } from '@gatehouse/platform/db';
import type { Database, Tx } from '../../db/schema';
import { AppError } from '@gatehouse/platform/errors';
import { makeEvent, type CloudEvent } from '@gatehouse/platform/events';
import type { RequestContext } from '../../context';
import { EVENT_SOURCE } from '../../events';
import type { Background } from '../../background';
import { checkPasswordPolicy } from '../passwords/passwords.policy';
import type { PasswordHasher } from '../passwords/passwords.service';
import { insertAccount, toUser } from '../users/users.service';
import { tenantErrors } from './tenants.errors';
import {
  findTenantById,
  findTenantBySlug,
  insertTenant,
  listTenantRows,
  lockTenant,
  revokeTenantSessions,
  scopeToTenant,
  updateTenant,
  type TenantRow,
} from './tenants.queries';
import type { TenantCreate, TenantPatch } from './tenants.schemas';
import { normalizeSlug, toTenant, type Tenant } from './tenants.service';
import { mergeSettings, passwordMinLength, validateSettings } from './tenants.settings';
import { decodeCursor, encodeCursor, isUuid } from '@gatehouse/platform/formats';

/** Who changes a tenant: a superadmin's request, or the CLI (no user). */
export interface TenantActor {
  userId?: string;
  ctx: RequestContext;
}

export interface TenantAdminDeps {
  db: Database;
  hasher: PasswordHasher;
  background: Background;
  logger: Logger;
  /**
   * After a disable, sessions and tokens are cut once more this much later (default 2000 ms):
   * a login or refresh that had passed its tenant check just before the disable committed
   * finishes within that time, and its session and token are then cut too.
   */
  disableSweepMs?: number;
}

/** A list cursor (platform codec), or 400 `invalid_cursor`. */
function readCursor(cursor: string): { ts: string; id: string } {
  const c = decodeCursor(cursor);
  if (!c) throw tenantErrors.badCursor();
  return { ts: c.key, id: c.id };
}

function tenantEvent(
  action: 'created' | 'updated',
  row: TenantRow,
  actor: TenantActor,
  extra: { changes?: TenantEventData['changes']; sessionsRevoked?: number } = {},
): CloudEvent<TenantEventData> {
  const data: TenantEventData = { id: row.id, slug: row.slug, name: row.name, status: row.status, action, ...extra };
  if (actor.userId) data.actorId = actor.userId;
  if (actor.ctx.ip) data.ip = actor.ctx.ip;
  if (actor.ctx.userAgent) data.userAgent = actor.ctx.userAgent;
  data.requestId = actor.ctx.requestId;
  return makeEvent({
    source: EVENT_SOURCE,
    type: action === 'created' ? EventTypes.tenantCreated : EventTypes.tenantUpdated,
    tenantId: row.id,
    subject: row.id,
    data,
  });
}

function isSlugViolation(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; message?: string };
  return e?.code === '23505' && `${e.constraint ?? ''} ${e.message ?? ''}`.includes('tenants_slug_key');
}

/** Creates the tenant administration service. */
export function createTenantAdmin(deps: TenantAdminDeps) {
  const { db, hasher, background, logger } = deps;
  const sweepMs = deps.disableSweepMs ?? 2000;

  /**
   * Revokes the tenant's sessions (inside `trx`, scoped as the database's policies require);
   * once it commits, every access token of the tenant issued so far fails everywhere.
   */
  async function revokeSessionsTx(trx: Tx, emit: Emit, tenantId: string): Promise<number> {
    await scopeToTenant(trx, tenantId);
    const n = await revokeTenantSessions(trx, tenantId, 'tenant_disabled');
    emit.revokeTenant(tenantId);
    return n;
  }

  function scheduleSweep(tenantId: string): void {
    background.run('tenant-disable-sweep', async () => {
      await sleep(sweepMs);
      const row = await findTenantById(db.admin, tenantId);
      if (row?.status !== 'disabled') return;
      const n = await db.transaction((trx, emit) => revokeSessionsTx(trx, emit, tenantId));
      if (n > 0) logger.warn({ tenantId, sessions: n }, 'sessions created while the tenant was being disabled were revoked');
    });
  }

  return {
    /**
     * Creates an active tenant, optionally with its first admin. Throws 400 `invalid_slug`,
     * `reserved_slug`, `validation_failed` (settings), `weak_password`; 409 `slug_taken`.
     */
    async create(actor: TenantActor, input: TenantCreate): Promise<Tenant & { admin?: User }> {
      const slug = normalizeSlug(input.slug);
      const name = input.name.trim();
      if (!name) throw new AppError('validation_failed', 400, { detail: 'The name is empty.', errors: [{ path: 'body.name', message: 'must not be blank' }] });
      const settings = validateSettings(input.settings, 'body.settings');
      const admin = input.admin;
      let passwordHash: string | undefined;
      if (admin) {
        await checkPasswordPolicy(admin.password, { minLength: passwordMinLength({ settings }), email: admin.email, username: admin.username });
        passwordHash = await hasher.hash(admin.password);
      }
      const id = randomUUID();
      let created: { row: TenantRow; adminUser?: User };
      try {
        created = await db.transaction(async (trx, emit) => {
          const row = await insertTenant(trx, { id, slug, name, settings });
          let adminUser: User | undefined;
          if (admin && passwordHash) {
            await scopeToTenant(trx, id);
            const user = await insertAccount(trx, emit, {
              tenantId: id,
              email: admin.email.trim(),
              password: admin.password,
              passwordHash,
              username: admin.username ?? null,
              displayName: admin.displayName?.trim() || null,
              roles: ['admin'],
            });
            adminUser = toUser(user);
          }
          await emit(tenantEvent('created', row, actor));
          return { row, adminUser };
        });
      } catch (err) {
        if (isSlugViolation(err)) throw tenantErrors.slugTaken(slug);
        throw err;
      }
      const tenant = toTenant(created.row);
      return created.adminUser ? { ...tenant, admin: created.adminUser } : tenant;
    },

    /** Tenants by creation time, `limit` (default 50) a page. */
    async list(q: { status?: 'active' | 'disabled'; query?: string; cursor?: string; limit?: number }): Promise<{ items: Tenant[]; nextCursor: string | null }> {
      const limit = q.limit ?? 50;
      const after = q.cursor ? readCursor(q.cursor) : undefined;
      const rows = await listTenantRows(db.admin, { status: q.status, query: q.query?.trim() || undefined, after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toTenant), nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null };
    },

    /** One tenant by id or slug, any status; 404 `tenant_not_found`. */
    async get(by: { id: string } | { slug: string }): Promise<Tenant> {
      const row =
        'id' in by ? (isUuid(by.id) ? await findTenantById(db.admin, by.id) : undefined) : await findTenantBySlug(db.admin, by.slug.trim().toLowerCase());
      if (!row) throw tenantErrors.noSuchTenant();
      return toTenant(row);
    },

    /**
     * Changes name, status and/or settings (settings are merged, see `mergeSettings`). A change
     * to nothing changes nothing and emits no event. Disabling the default tenant is 409
     * `default_tenant`.
     */
    async update(actor: TenantActor, id: string, patch: TenantPatch): Promise<Tenant> {
      if (!isUuid(id)) throw tenantErrors.noSuchTenant();
      const name = patch.name?.trim();
      if (name === '') throw new AppError('validation_failed', 400, { detail: 'The name is empty.', errors: [{ path: 'body.name', message: 'must not be blank' }] });
      const result = await db.transaction(async (trx, emit) => {
        const row = await lockTenant(trx, id);
        if (!row) throw tenantErrors.noSuchTenant();
        const set: { name?: string; status?: 'active' | 'disabled'; settings?: object } = {};
        const changes: NonNullable<TenantEventData['changes']> = [];
        if (name !== undefined && name !== row.name) {
          set.name = name;
          changes.push('name');
        }
        if (patch.status !== undefined && patch.status !== row.status) {
          if (patch.status === 'disabled' && row.id === DEFAULT_TENANT_ID) throw tenantErrors.defaultTenant();
          set.status = patch.status;
          changes.push('status');
        }
        if (patch.settings !== undefined) {
          const current = toTenant(row).settings;
          const merged = mergeSettings(current, patch.settings, 'body.settings');
          if (!isDeepStrictEqual(merged, current)) {
            set.settings = merged;
            changes.push('settings');
          }
        }
        if (changes.length === 0) return { row, disabled: false };
        const updated = await updateTenant(trx, id, set);
        const disabled = set.status === 'disabled';
        const sessionsRevoked = disabled ? await revokeSessionsTx(trx, emit, id) : undefined;
        await emit(tenantEvent('updated', updated, actor, { changes, sessionsRevoked }));
        return { row: updated, disabled };
      });
      if (result.disabled) scheduleSweep(id);
      return toTenant(result.row);
    },
  };
}
export type TenantAdmin = ReturnType<typeof createTenantAdmin>;

/** What the functions below need: `createAuthDeps(…)` has it. */
type WithTenantAdmin = { tenantAdmin: TenantAdmin };

/** The actor of CLI changes: no user; the request id says where it came from. */
function cliActor(): TenantActor {
  return { ctx: { ip: '', userAgent: null, requestId: 'cli' } };
}

/**
 * Creates a tenant (for `gatehouse tenant create`); the change and its event commit together,
 * and a running deployment's outbox relay publishes the event. Same checks as the admin API.
 */
export async function createTenant(deps: WithTenantAdmin, input: TenantCreate): Promise<Tenant & { admin?: User }> {
  return deps.tenantAdmin.create(cliActor(), input);
}

/** Lists tenants (for `gatehouse tenant list`): one page, or every page with `all`. */
export async function listTenants(
  deps: WithTenantAdmin,
  q: { status?: 'active' | 'disabled'; query?: string; cursor?: string; limit?: number; all?: boolean } = {},
): Promise<{ items: Tenant[]; nextCursor: string | null }> {
  if (!q.all) return deps.tenantAdmin.list(q);
  const items: Tenant[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await deps.tenantAdmin.list({ ...q, cursor, limit: 200 });
    items.push(...page.items);
    if (!page.nextCursor) return { items, nextCursor: null };
    cursor = page.nextCursor;
  }
}

/**
 * Enables or disables a tenant by slug or id (for `gatehouse tenant disable|enable`). Disabling
 * revokes its sessions and publishes the token revocation to the shared list (Redis), so a
 * running deployment refuses the tenant's tokens at once. Call `deps.background.idle()` before
 * the process exits: it waits for the follow-up sweep.
 */
export async function setTenantStatus(deps: WithTenantAdmin, by: { id: string } | { slug: string }, status: 'active' | 'disabled'): Promise<Tenant> {
  const tenant = await deps.tenantAdmin.get(by);
  return deps.tenantAdmin.update(cliActor(), tenant.id, { status });
}
