/**
 * A tenant's webhook endpoints through the admin API (`/api/v1/admin/webhooks`): create (the
 * signing secret `whsec_…` is returned once and stored sealed with the master secret, since
 * signing needs the plaintext), list, change, delete, its deliveries, replay and a test event.
 * Every change commits with an `auth.events.webhook_*` event (the audit trail records it).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Updateable } from 'kysely';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { makeEvent, type CloudEvent } from '@gatehouse/platform/events';
import { decodeCursor, encodeCursor, iso } from '@gatehouse/platform/formats';
import { EventTypes } from '@gatehouse/contracts';
import type { Database, WebhookDeliveryRow, WebhookEndpointRow, WebhookEndpointsTable } from '../../db/schema';
import type { RequestContext } from '../../context';
import { EVENT_SOURCE } from '../../events';
import { webhookErrors } from './webhooks.errors';
import { checkTargetUrl } from './webhooks.target';
import {
  countEndpoints,
  deleteEndpoint,
  findDelivery,
  findEndpoint,
  insertDeliveries,
  insertEndpoint,
  listAttempts,
  listDeliveries,
  listEndpoints,
  reschedule,
  updateEndpoint,
} from './webhooks.queries';

/** The purpose the signing secrets are sealed under (HKDF of the master secret). */
export const WEBHOOK_SECRET_PURPOSE = 'webhook-secrets';

/** Endpoints one tenant may have: every event of the tenant fans out to each. */
export const MAX_ENDPOINTS = 50;

/**
 * A URL as events and mails show it: scheme, host and path, without the query (endpoints such
 * as chat incoming-webhooks carry their credential there, and events reach the audit trail
 * and other endpoints).
 */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

/** The type of the event `POST /webhooks/{id}/test` sends (never on the event stream). */
export const TEST_EVENT_TYPE = 'webhook.test';

// A NATS subject pattern: tokens of letters, digits, _ and -, or `*`, or a final `>`.
const PATTERN_TOKEN = /^([A-Za-z0-9_-]+|\*)$/;

/** Why `pattern` is not a subject pattern, or undefined. */
export function patternProblem(pattern: string): string | undefined {
  const tokens = pattern.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '>' && i === tokens.length - 1) continue;
    if (!PATTERN_TOKEN.test(t)) return 'must be a subject pattern: dot-separated names, * for one name, > at the end for the rest';
  }
  return undefined;
}

/** A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface WebhookInput {
  url: string;
  events: string[];
  description?: string | null;
  disabled?: boolean;
}

export interface WebhookActor {
  userId: string;
  ctx: RequestContext;
}

function toWebhook(r: WebhookEndpointRow) {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: r.events,
    disabled: r.disabled_at !== null,
    disabledAt: iso(r.disabled_at),
    disabledReason: r.disabled_reason,
    consecutiveFailures: r.consecutive_failures,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toDelivery(r: Omit<WebhookDeliveryRow, 'payload'>) {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    attempt: r.attempt,
    status: r.status,
    responseStatus: r.response_status,
    responseExcerpt: r.response_excerpt,
    error: r.last_error,
    nextAttemptAt: iso(r.next_attempt_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function readCursor(cursor: string): { ts: string; id: string } {
  const c = decodeCursor(cursor);
  if (!c) throw webhookErrors.badCursor();
  return { ts: c.key, id: c.id };
}

/** Creates the webhook administration service; `nudge` wakes the delivery worker. */
export function createWebhookService(deps: { db: Database; secret: string; allowPrivate: boolean; nudge: () => void }) {
  const { db, allowPrivate, nudge } = deps;
  const box = createSecretBox(deps.secret, WEBHOOK_SECRET_PURPOSE);

  function checkEvents(events: string[]): string[] {
    events.forEach((p, i) => {
      const problem = patternProblem(p);
      if (problem) throw webhookErrors.badPattern(i, problem);
    });
    return [...new Set(events)];
  }

  function webhookEvent(name: 'created' | 'updated' | 'deleted', tenantId: string, actor: WebhookActor, row: Pick<WebhookEndpointRow, 'id' | 'url' | 'events'> & { disabled?: boolean }): CloudEvent {
    return makeEvent({
      source: EVENT_SOURCE,
      type: EventTypes.auth(`webhook_${name}`),
      tenantId,
      subject: row.id,
      data: {
        actorId: actor.userId,
        webhookId: row.id,
        url: displayUrl(row.url),
        events: row.events,
        ...(row.disabled === undefined ? {} : { disabled: row.disabled }),
        ip: actor.ctx.ip || undefined,
        userAgent: actor.ctx.userAgent ?? undefined,
        requestId: actor.ctx.requestId,
      },
    });
  }

  async function endpointOr404(tenantId: string, id: string): Promise<WebhookEndpointRow> {
    const row = await db.withTenantRead(tenantId, (trx) => findEndpoint(trx, id));
    if (!row) throw webhookErrors.notFound();
    return row;
  }

  return {
    async create(tenantId: string, actor: WebhookActor, input: WebhookInput) {
      const url = checkTargetUrl(input.url, allowPrivate).toString();
      const events = checkEvents(input.events);
      const secret = newSigningSecret();
      const row = await db.withTenant(tenantId, async (trx, emit) => {
        if ((await countEndpoints(trx)) >= MAX_ENDPOINTS) throw webhookErrors.tooMany(MAX_ENDPOINTS);
        const created = await insertEndpoint(trx, {
          id: randomUUID(),
          tenant_id: tenantId,
          url,
          description: input.description ?? null,
          events,
          secret_sealed: box.seal(secret),
          disabled_at: input.disabled ? new Date() : null,
          disabled_reason: input.disabled ? 'admin' : null,
          failing_since: null,
        });
        await emit(webhookEvent('created', tenantId, actor, { ...created, disabled: created.disabled_at !== null }));
        return created;
      });
      return { ...toWebhook(row), secret };
    },

    async list(tenantId: string, q: { cursor?: string; limit?: number }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? readCursor(q.cursor) : undefined;
      const rows = await db.withTenant(tenantId, (trx) => listEndpoints(trx, { after, limit: limit + 1 }));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toWebhook), nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null };
    },

    async get(tenantId: string, id: string) {
      return toWebhook(await endpointOr404(tenantId, id));
    },

    async update(tenantId: string, actor: WebhookActor, id: string, input: Partial<WebhookInput>) {
      const set: Updateable<WebhookEndpointsTable> = {};
      if (input.url !== undefined) set.url = checkTargetUrl(input.url, allowPrivate).toString();
      if (input.events !== undefined) set.events = checkEvents(input.events);
      if (input.description !== undefined) set.description = input.description;
      const row = await db.withTenant(tenantId, async (trx, emit) => {
        const existing = await findEndpoint(trx, id);
        if (!existing) throw webhookErrors.notFound();
        if (input.disabled === true && existing.disabled_at === null) {
          set.disabled_at = new Date();
          set.disabled_reason = 'admin';
        } else if (input.disabled === false && existing.disabled_at !== null) {
          // enabling starts a fresh failure streak
          set.disabled_at = null;
          set.disabled_reason = null;
          set.consecutive_failures = 0;
          set.failing_since = null;
        }
        const updated = (await updateEndpoint(trx, id, set))!;
        await emit(webhookEvent('updated', tenantId, actor, { ...updated, disabled: updated.disabled_at !== null }));
        return updated;
      });
      return toWebhook(row);
    },

    async remove(tenantId: string, actor: WebhookActor, id: string): Promise<void> {
      await db.withTenant(tenantId, async (trx, emit) => {
        const existing = await findEndpoint(trx, id);
        if (!existing || !(await deleteEndpoint(trx, id))) throw webhookErrors.notFound();
        await emit(webhookEvent('deleted', tenantId, actor, existing));
      });
    },

    async deliveries(tenantId: string, id: string, q: { cursor?: string; limit?: number }) {
      const limit = q.limit ?? 50;
      const before = q.cursor ? readCursor(q.cursor) : undefined;
      const rows = await db.withTenant(tenantId, async (trx) => {
        if (!(await findEndpoint(trx, id))) throw webhookErrors.notFound();
        return listDeliveries(trx, id, { before, limit: limit + 1 });
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toDelivery), nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null };
    },

    /** One delivery with every attempt. */
    async delivery(tenantId: string, id: string, deliveryId: string) {
      return db.withTenant(tenantId, async (trx) => {
        const d = await findDelivery(trx, id, deliveryId);
        if (!d) throw webhookErrors.deliveryNotFound();
        const attempts = await listAttempts(trx, d.id);
        return {
          ...toDelivery(d),
          attempts: attempts.map((a) => ({
            attempt: a.attempt,
            outcome: a.outcome,
            startedAt: iso(a.started_at),
            durationMs: a.duration_ms,
            responseStatus: a.response_status,
            responseExcerpt: a.response_excerpt,
            error: a.error,
          })),
        };
      });
    },

    /** Sends a delivery again (same event, same webhook-id), whatever its status. */
    async replay(tenantId: string, id: string, deliveryId: string): Promise<void> {
      await db.withTenant(tenantId, async (trx) => {
        const endpoint = await findEndpoint(trx, id);
        if (!endpoint) throw webhookErrors.notFound();
        const d = await findDelivery(trx, id, deliveryId);
        if (!d) throw webhookErrors.deliveryNotFound();
        if (endpoint.disabled_at) throw webhookErrors.disabled();
        await reschedule(trx, d);
      });
      nudge();
    },

    /** Queues a `webhook.test` event for this endpoint alone; returns its event id. */
    async test(tenantId: string, id: string): Promise<{ eventId: string }> {
      const eventId = randomUUID();
      await db.withTenant(tenantId, async (trx) => {
        const endpoint = await findEndpoint(trx, id);
        if (!endpoint) throw webhookErrors.notFound();
        if (endpoint.disabled_at) throw webhookErrors.disabled();
        // built by hand, not with makeEvent: this type is never published on the event stream
        const event: CloudEvent = {
          specversion: '1.0',
          id: eventId,
          source: EVENT_SOURCE,
          type: TEST_EVENT_TYPE,
          subject: id,
          time: new Date().toISOString(),
          tenantid: tenantId,
          datacontenttype: 'application/json',
          data: { webhookId: id, message: 'A test event from Gatehouse.' },
        };
        await insertDeliveries(trx, [{ id: randomUUID(), tenant_id: tenantId, endpoint_id: id, event_id: eventId, event_type: event.type, payload: JSON.stringify(event) }]);
      });
      nudge();
      return { eventId };
    },
  };
}
export type WebhookService = ReturnType<typeof createWebhookService>;
