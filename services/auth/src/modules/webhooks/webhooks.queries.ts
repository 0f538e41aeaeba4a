/**
 * Webhook SQL. All but `claimDue` run inside `withTenant` (RLS keeps them to one tenant);
 * `claimDue` is the delivery worker's cross-tenant look at the schedule (owner connection).
 */
import { sql, type Insertable, type RawBuilder, type Updateable } from 'kysely';
import { ago } from '@gatehouse/platform/purge';
import type { Db, Tx, WebhookAttemptsTable, WebhookDeliveriesTable, WebhookDeliveryRow, WebhookEndpointRow, WebhookEndpointsTable } from '../../db/schema';

const cursorTs = (column: string) => sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const later = (ms: number) => sql<Date>`now() + make_interval(secs => ${ms / 1000})`;

export async function insertEndpoint(trx: Tx, row: Insertable<WebhookEndpointsTable>): Promise<WebhookEndpointRow> {
  return trx.insertInto('webhook_endpoints').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Endpoints by (created_at, id) after the cursor. */
export async function listEndpoints(trx: Tx, opts: { after?: { ts: string; id: string }; limit: number }): Promise<Array<WebhookEndpointRow & { cursor_ts: string }>> {
  let q = trx.selectFrom('webhook_endpoints').selectAll().select(cursorTs('created_at').as('cursor_ts'));
  if (opts.after) q = q.where(sql<boolean>`(created_at, id) > (${opts.after.ts}::timestamptz, ${opts.after.id}::uuid)`);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).execute();
}

export async function countEndpoints(trx: Tx): Promise<number> {
  const row = await trx.selectFrom('webhook_endpoints').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findEndpoint(trx: Tx, id: string): Promise<WebhookEndpointRow | undefined> {
  return trx.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Endpoints that take deliveries (not disabled) of the tenant, as the lead of a tenant transaction (`db.withTenantLed`): it
 * rides the transaction's open, one round trip fewer per routed event. No parameters (RLS
 * picks the tenant's rows).
 */
export function activeEndpointsLead(): RawBuilder<Pick<WebhookEndpointRow, 'id' | 'events' | 'created_at'>> {
  return sql.raw('select id, events, created_at from webhook_endpoints where disabled_at is null');
}

export async function updateEndpoint(trx: Tx, id: string, set: Updateable<WebhookEndpointsTable>): Promise<WebhookEndpointRow | undefined> {
  return trx
    .updateTable('webhook_endpoints')
    .set({ ...set, updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteEndpoint(trx: Tx, id: string): Promise<boolean> {
  const r = await trx.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Inserts deliveries, skipping (endpoint, event) pairs that exist (a redelivered event), and
 * schedules each new one now. Returns the ids of the new ones.
 */
export async function insertDeliveries(trx: Tx, rows: Array<Insertable<WebhookDeliveriesTable>>): Promise<string[]> {
  if (rows.length === 0) return [];
  const inserted = await trx
    .insertInto('webhook_deliveries')
    .values(rows.map((r) => ({ ...r, next_attempt_at: sql<Date>`now()` })))
    .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
    .returning(['id', 'tenant_id'])
    .execute();
  if (inserted.length > 0) {
    await trx
      .insertInto('webhook_queue')
      .values(inserted.map((r) => ({ delivery_id: r.id, tenant_id: r.tenant_id, due_at: sql<Date>`now()` })))
      .execute();
  }
  return inserted.map((r) => r.id);
}

/** A delivery of one endpoint, newest first: (created_at, id) before the cursor. */
export async function listDeliveries(
  trx: Tx,
  endpointId: string,
  opts: { before?: { ts: string; id: string }; limit: number },
): Promise<Array<Omit<WebhookDeliveryRow, 'payload'> & { cursor_ts: string }>> {
  let q = trx
    .selectFrom('webhook_deliveries')
    .select(['id', 'tenant_id', 'endpoint_id', 'event_id', 'event_type', 'status', 'attempt', 'next_attempt_at', 'response_status', 'response_excerpt', 'last_error', 'created_at', 'updated_at'])
    .select(cursorTs('created_at').as('cursor_ts'))
    .where('endpoint_id', '=', endpointId);
  if (opts.before) q = q.where(sql<boolean>`(created_at, id) < (${opts.before.ts}::timestamptz, ${opts.before.id}::uuid)`);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
}

export async function findDelivery(trx: Tx, endpointId: string, id: string): Promise<WebhookDeliveryRow | undefined> {
  return trx.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).where('id', '=', id).executeTakeFirst();
}

export async function listAttempts(trx: Tx, deliveryId: string) {
  return trx.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

/** Makes a delivery due now again (replay): pending, scheduled, in the queue. */
export async function reschedule(trx: Tx, delivery: Pick<WebhookDeliveryRow, 'id' | 'tenant_id'>): Promise<void> {
  await trx
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', delivery.id)
    .execute();
  await trx
    .insertInto('webhook_queue')
    .values({ delivery_id: delivery.id, tenant_id: delivery.tenant_id, due_at: sql`now()` })
    .onConflict((oc) => oc.column('delivery_id').doUpdateSet({ due_at: sql`now()` }))
    .execute();
}

/**
 * Claims up to `limit` due deliveries of any tenant: the rows are locked with
 * `FOR UPDATE SKIP LOCKED` (another replica's claim skips them) and their `due_at` pushed
 * `leaseMs` ahead in the same statement, so no other worker sees them due until the claimer
 * has recorded its attempt (which reschedules or removes the row) or the lease runs out
 * (the claimer died: the attempt is made again, with the same webhook-id).
 * Owner connection: cross-tenant by nature; the work per delivery continues in `withTenant`.
 */
export async function claimDue(admin: Db, limit: number, leaseMs: number): Promise<Array<{ delivery_id: string; tenant_id: string }>> {
  return admin
    .updateTable('webhook_queue')
    .set({ due_at: later(leaseMs) })
    .where('delivery_id', 'in', (eb) =>
      eb.selectFrom('webhook_queue').select('delivery_id').where('due_at', '<=', sql<Date>`now()`).orderBy('due_at').limit(limit).forUpdate().skipLocked(),
    )
    .returning(['delivery_id', 'tenant_id'])
    .execute();
}

/** Milliseconds until the next queued delivery is due (undefined: the queue is empty). Owner connection. */
export async function nextDueInMs(admin: Db): Promise<number | undefined> {
  const row = await admin
    .selectFrom('webhook_queue')
    .select(sql<string | null>`extract(epoch from min(due_at) - now()) * 1000`.as('ms'))
    .executeTakeFirstOrThrow();
  return row.ms === null ? undefined : Math.max(0, Number(row.ms));
}

/** A claimed delivery with what sending it needs. */
export async function deliveryForSend(trx: Tx, id: string) {
  return trx
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
    .select(['d.id', 'd.tenant_id', 'd.endpoint_id', 'd.event_id', 'd.payload', 'd.status', 'd.attempt', 'd.created_at', 'e.url', 'e.secret_sealed', 'e.disabled_at'])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

/**
 * Locks an endpoint row first thing in a transaction that records an attempt: deleting an
 * endpoint locks it and then its deliveries (cascade), so recording must take the same order
 * or the two deadlock. Undefined when the endpoint is gone.
 */
export async function lockEndpoint(trx: Tx, id: string): Promise<{ id: string } | undefined> {
  return trx.selectFrom('webhook_endpoints').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertAttempt(trx: Tx, row: Insertable<WebhookAttemptsTable>): Promise<void> {
  await trx.insertInto('webhook_attempts').values(row).execute();
}

export async function updateDelivery(trx: Tx, id: string, set: Updateable<WebhookDeliveriesTable>): Promise<void> {
  await trx.updateTable('webhook_deliveries').set({ ...set, updated_at: sql`now()` }).where('id', '=', id).execute();
}

/** Puts a delivery's next attempt `delayMs` from now (in the delivery and the queue); returns when. */
export async function scheduleRetry(trx: Tx, delivery: { id: string; tenant_id: string }, delayMs: number): Promise<Date> {
  const row = await trx
    .updateTable('webhook_queue')
    .set({ due_at: later(delayMs) })
    .where('delivery_id', '=', delivery.id)
    .returning('due_at')
    .executeTakeFirst();
  if (row) return row.due_at;
  const inserted = await trx
    .insertInto('webhook_queue')
    .values({ delivery_id: delivery.id, tenant_id: delivery.tenant_id, due_at: later(delayMs) })
    .returning('due_at')
    .executeTakeFirstOrThrow();
  return inserted.due_at;
}

export async function dequeue(trx: Tx, deliveryId: string): Promise<void> {
  await trx.deleteFrom('webhook_queue').where('delivery_id', '=', deliveryId).execute();
}

/** Records a success on the endpoint: the failure streak ends. */
export async function endpointSucceeded(trx: Tx, endpointId: string): Promise<void> {
  await trx
    .updateTable('webhook_endpoints')
    .set({ consecutive_failures: 0, failing_since: null })
    .where('id', '=', endpointId)
    .where('consecutive_failures', '>', 0)
    .execute();
}

/** Records a failure on the endpoint; returns the streak (count, and its length in seconds). */
export async function endpointFailed(trx: Tx, endpointId: string): Promise<{ failures: number; failingSec: number } | undefined> {
  const row = await trx
    .updateTable('webhook_endpoints')
    .set({ consecutive_failures: sql`consecutive_failures + 1`, failing_since: sql`coalesce(failing_since, now())` })
    .where('id', '=', endpointId)
    .returning(['consecutive_failures', sql<string>`extract(epoch from now() - coalesce(failing_since, now()))`.as('failing_sec')])
    .executeTakeFirst();
  return row ? { failures: row.consecutive_failures, failingSec: Number(row.failing_sec) } : undefined;
}

/** Disables an endpoint that is still enabled; true when this call did it. */
export async function disableForFailures(trx: Tx, endpointId: string): Promise<boolean> {
  const r = await trx
    .updateTable('webhook_endpoints')
    .set({ disabled_at: sql`now()`, disabled_reason: 'failures', updated_at: sql`now()` })
    .where('id', '=', endpointId)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Email addresses of the tenant's enabled admins. */
export async function adminEmails(trx: Tx): Promise<string[]> {
  const rows = await trx
    .selectFrom('users')
    .select('email')
    .where('disabled_at', 'is', null)
    .where(sql<boolean>`'admin' = any(roles)`)
    .orderBy('created_at')
    .limit(50)
    .execute();
  return rows.map((r) => r.email);
}

/** Finished deliveries (succeeded or failed) whose last change is more than `retentionSec` ago. */
function finishedBefore(trx: Tx, tenantId: string, retentionSec: number) {
  return trx
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('status', 'in', ['succeeded', 'failed'])
    .where('updated_at', '<', ago(retentionSec));
}

/** Purge: deletes up to `limit` attempts of finished deliveries past their retention (before the deliveries, so no cascade is large). */
export async function deleteOldAttempts(trx: Tx, tenantId: string, retentionSec: number, limit: number): Promise<number> {
  const due = trx
    .selectFrom('webhook_attempts')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('delivery_id', 'in', finishedBefore(trx, tenantId, retentionSec))
    .limit(limit)
    .forUpdate()
    .skipLocked();
  const r = await trx.deleteFrom('webhook_attempts').where('id', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Purge: deletes up to `limit` finished deliveries past their retention. */
export async function deleteOldDeliveries(trx: Tx, tenantId: string, retentionSec: number, limit: number): Promise<number> {
  const due = finishedBefore(trx, tenantId, retentionSec).limit(limit).forUpdate().skipLocked();
  const r = await trx.deleteFrom('webhook_deliveries').where('id', 'in', due).executeTakeFirst();
  return Number(r.numDeletedRows);
}
