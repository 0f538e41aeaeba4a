/**
 * Webhook delivery (docs/webhooks.md):
 *
 * - the **consumer**: a durable JetStream consumer (`auth-webhooks`, shared by every auth
 *   replica) of every event subject. For each event it inserts one delivery per enabled
 *   endpoint of the event's tenant whose patterns match the type, and queues it, in one
 *   transaction; (endpoint, event) is unique, so a redelivered event adds nothing.
 * - the **worker**: claims due deliveries (`FOR UPDATE SKIP LOCKED` plus a lease, so two
 *   replicas never send the same attempt), POSTs the CloudEvent JSON signed with the
 *   `standardwebhooks` package (`webhook-id` = the event id, on every attempt), records the
 *   attempt, and reschedules failures in the database (`next_attempt_at`): a restart loses
 *   nothing. An endpoint failing too long or too often is disabled and its tenant's admins
 *   are mailed.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { request } from 'undici';
import { Webhook } from 'standardwebhooks';
import { createSecretBox } from '@gatehouse/platform/crypto';
import { EVENT_SUBJECTS, makeEvent, subjectMatches, type CloudEvent, type EventTransport } from '@gatehouse/platform/events';
import { isUuid } from '@gatehouse/platform/formats';
import type { Mailer } from '@gatehouse/platform/mail';
import type { Config } from '@gatehouse/platform/config';
import { EventTypes } from '@gatehouse/contracts';
import type { Database } from '../../db/schema';
import type { AuthMetrics, WebhookAttemptResult } from '../../metrics';
import { EVENT_SOURCE } from '../../events';
import { retryDelayMs } from './webhooks.schedule';
import { createTargetAgent, refusalAtSend, TargetRefusedError } from './webhooks.target';
import { displayUrl, WEBHOOK_SECRET_PURPOSE } from './webhooks.service';
import {
  activeEndpointsLead,
  adminEmails,
  claimDue,
  deliveryForSend,
  dequeue,
  disableForFailures,
  endpointFailed,
  endpointSucceeded,
  insertAttempt,
  insertDeliveries,
  lockEndpoint,
  nextDueInMs,
  scheduleRetry,
  updateDelivery,
} from './webhooks.queries';

/** Durable consumer name shared by every auth replica. */
export const WEBHOOK_DURABLE = 'auth-webhooks';

/**
 * An endpoint receives the events that happened after it was created, give or take this much
 * clock difference between the services' hosts: a consumer that catches up (or is reset and
 * replays the stream's 7 days) must not flood a new endpoint with history.
 */
const CREATED_SKEW_MS = 60_000;

/** Bytes of a response body kept with an attempt. */
const EXCERPT_BYTES = 512;

/** What one attempt came to. */
interface Outcome {
  ok: boolean;
  result: WebhookAttemptResult;
  status: number | null;
  excerpt: string | null;
  error: string | null;
}

/** Reads at most EXCERPT_BYTES of a body, then drops the rest (the connection is not reused then). */
async function excerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= EXCERPT_BYTES) {
      body.destroy();
      break;
    }
  }
  // eslint-disable-next-line no-control-regex -- control characters have no place in a stored excerpt
  return Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

function refusedIn(err: unknown): TargetRefusedError | undefined {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof TargetRefusedError) return e;
  }
  return undefined;
}

function message(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const parts = [e?.code, e?.message, e?.cause?.code, e?.cause?.message].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return [...new Set(parts)].join(': ').slice(0, 500) || String(err).slice(0, 500);
}

export interface WebhookDeliveryDeps {
  db: Database;
  secret: string;
  transport: EventTransport;
  mailer: Mailer;
  metrics: AuthMetrics;
  logger: Logger;
  config: Config['webhooks'];
  publicUrl: string;
}

/** Creates the consumer and the worker; `start` runs both, `stop` ends both. */
export function createWebhookDelivery(deps: WebhookDeliveryDeps) {
  const { db, transport, mailer, metrics, config } = deps;
  const logger = deps.logger.child({ module: 'webhooks' });
  const box = createSecretBox(deps.secret, WEBHOOK_SECRET_PURPOSE);
  const agent = createTargetAgent({ allowPrivate: config.allowPrivate, timeoutMs: config.timeoutMs });
  const leaseMs = config.timeoutMs + 30_000;
  const disableAfterMs = config.disableAfterSec * 1000 * config.retryScale;

  let sub: { stop(): Promise<void> } | undefined;
  let running = false;
  let loopDone: Promise<void> | undefined;
  let endWait: (() => void) | undefined;
  let nudged = false;
  const inFlight = new Set<Promise<void>>();

  function nudge(): void {
    nudged = true;
    endWait?.();
  }

  /** The consumer's handler: one delivery per matching endpoint of the event's tenant. */
  async function route(event: CloudEvent): Promise<number> {
    if (!isUuid(event.tenantid)) return 0;
    const tenantId = event.tenantid.toLowerCase();
    const payload = JSON.stringify(event);
    const at = new Date(event.time).getTime();
    const created = await db.withTenantLed(tenantId, activeEndpointsLead(), async (trx, _emit, active) => {
      const endpoints = active.filter(
        (e) => e.events.some((p) => subjectMatches(p, event.type)) && !(at < new Date(e.created_at).getTime() - CREATED_SKEW_MS),
      );
      return insertDeliveries(
        trx,
        endpoints.map((e) => ({ id: randomUUID(), tenant_id: tenantId, endpoint_id: e.id, event_id: event.id, event_type: event.type, payload })),
      );
    });
    if (created.length > 0) nudge();
    return created.length;
  }

  async function send(d: { url: string; secret_sealed: string; event_id: string; payload: string }): Promise<Outcome> {
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      return { ok: false, result: 'refused', status: null, excerpt: null, error: 'the stored URL is not valid' };
    }
    const refusal = refusalAtSend(url, config.allowPrivate);
    if (refusal) return { ok: false, result: 'refused', status: null, excerpt: null, error: `target refused: ${refusal}` };
    let signer: Webhook;
    try {
      signer = new Webhook(box.open(d.secret_sealed));
    } catch {
      // sealed under another master secret (GATEHOUSE_SECRET changed): recorded, retried like any failure
      return { ok: false, result: 'internal_error', status: null, excerpt: null, error: 'the signing secret cannot be opened (was GATEHOUSE_SECRET changed?)' };
    }
    const at = new Date();
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhooks/1',
          'webhook-id': d.event_id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signer.sign(d.event_id, at, d.payload),
        },
        body: d.payload,
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      const text = await excerpt(res.body).catch(() => '');
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      // a redirect is not followed: it is a failure like any other non-2xx answer
      return { ok, result: ok ? 'success' : 'http_error', status: res.statusCode, excerpt: text || null, error: ok ? null : `HTTP ${res.statusCode}` };
    } catch (err) {
      const refused = refusedIn(err);
      if (refused) return { ok: false, result: 'refused', status: null, excerpt: null, error: `target refused: ${refused.message}` };
      const timeout = (err as { name?: string }).name === 'TimeoutError' || /timeout/i.test(message(err));
      return { ok: false, result: timeout ? 'timeout' : 'network_error', status: null, excerpt: null, error: message(err) };
    }
  }

  /** One claimed delivery: send, record, reschedule or finish, maybe disable the endpoint. */
  async function attemptOne(claim: { delivery_id: string; tenant_id: string }): Promise<void> {
    const tenantId = claim.tenant_id;
    const d = await db.withTenant(tenantId, (trx) => deliveryForSend(trx, claim.delivery_id));
    if (!d) return; // deleted with its endpoint: the queue row went with it
    if (d.disabled_at || d.status !== 'pending') {
      await db.withTenant(tenantId, async (trx) => {
        if (!(await lockEndpoint(trx, d.endpoint_id))) return;
        if (d.status === 'pending') {
          await updateDelivery(trx, d.id, { status: 'failed', next_attempt_at: null, last_error: 'the endpoint is disabled' });
          metrics.webhookGaveUp();
        }
        await dequeue(trx, d.id);
      });
      return;
    }
    const attempt = d.attempt + 1;
    const startedAt = new Date();
    const t0 = performance.now();
    const outcome = await send(d);
    const durationMs = Math.round(performance.now() - t0);
    metrics.webhookAttempt(outcome.result);
    const mail = await db.withTenant(tenantId, async (trx, emit) => {
      // deleted while the request was out: nothing left to record
      if (!(await lockEndpoint(trx, d.endpoint_id))) return undefined;
      await insertAttempt(trx, {
        id: randomUUID(),
        tenant_id: tenantId,
        delivery_id: d.id,
        attempt,
        started_at: startedAt,
        duration_ms: durationMs,
        outcome: outcome.ok ? 'succeeded' : 'failed',
        response_status: outcome.status,
        response_excerpt: outcome.excerpt,
        error: outcome.error,
      });
      const last = { attempt, response_status: outcome.status, response_excerpt: outcome.excerpt, last_error: outcome.error };
      if (outcome.ok) {
        await updateDelivery(trx, d.id, { ...last, status: 'succeeded', next_attempt_at: null });
        await dequeue(trx, d.id);
        await endpointSucceeded(trx, d.endpoint_id);
        return undefined;
      }
      const delay = retryDelayMs(attempt, config.retryScale);
      if (delay === undefined) {
        await updateDelivery(trx, d.id, { ...last, status: 'failed', next_attempt_at: null });
        await dequeue(trx, d.id);
        metrics.webhookGaveUp();
      } else {
        const next = await scheduleRetry(trx, d, delay);
        await updateDelivery(trx, d.id, { ...last, status: 'pending', next_attempt_at: next });
      }
      const streak = await endpointFailed(trx, d.endpoint_id);
      if (!streak || (streak.failures < config.disableAfterFailures && streak.failingSec * 1000 < disableAfterMs)) return undefined;
      if (!(await disableForFailures(trx, d.endpoint_id))) return undefined;
      metrics.webhookDisabled();
      await emit(
        makeEvent({
          source: EVENT_SOURCE,
          type: EventTypes.auth('webhook_disabled'),
          tenantId,
          subject: d.endpoint_id,
          data: { webhookId: d.endpoint_id, url: displayUrl(d.url), reason: 'failures', consecutiveFailures: streak.failures },
        }),
      );
      return { to: await adminEmails(trx), url: displayUrl(d.url), failures: streak.failures, endpointId: d.endpoint_id };
    });
    if (mail) {
      logger.warn({ tenantId, endpoint: mail.endpointId, failures: mail.failures }, 'webhook endpoint disabled after repeated failures');
      for (const to of mail.to) {
        await mailer
          .send({
            to,
            subject: 'A webhook endpoint was disabled',
            text:
              `Gatehouse stopped sending events to the webhook endpoint ${mail.url} after ${mail.failures} failed deliveries in a row.\n\n` +
              `Fix the endpoint, then enable it again in the console (${deps.publicUrl}/#/admin/webhooks) or with PATCH /api/v1/admin/webhooks/${mail.endpointId} {"disabled": false}. ` +
              'Deliveries that failed in the meantime can be replayed from their list.',
          })
          .catch((err: unknown) => logger.error({ err }, 'webhook disable mail could not be sent'));
      }
    }
  }

  function wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        endWait = undefined;
        resolve();
      }
      endWait = done;
      if (nudged) done();
    });
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (running) {
      nudged = false;
      let delay = config.pollMs;
      try {
        const room = config.concurrency - inFlight.size;
        const claimed = room > 0 ? await claimDue(db.admin, room, leaseMs) : [];
        for (const c of claimed) {
          const p: Promise<void> = attemptOne(c)
            .catch((err: unknown) => logger.error({ err, delivery: c.delivery_id }, 'webhook attempt failed to record; retried after its lease'))
            .finally(() => {
              inFlight.delete(p);
              // a slot is free: look again
              nudge();
            });
          inFlight.add(p);
        }
        failures = 0;
        if (claimed.length > 0 && claimed.length === room) delay = 0;
        else if (room > 0) {
          const due = await nextDueInMs(db.admin);
          if (due !== undefined) delay = Math.min(delay, Math.max(due, 5));
        }
      } catch (err) {
        failures += 1;
        delay = Math.min(30_000, config.pollMs * 2 ** Math.min(failures, 5));
        logger.warn({ err }, 'webhook worker pass failed; will retry');
      }
      if (running && delay > 0) await wait(delay);
    }
  }

  return {
    route,
    nudge,
    /** Subscribes the consumer (retrying in the background until it can) and starts the worker. */
    async start(): Promise<void> {
      if (running) return;
      running = true;
      loopDone = loop();
      const subscribe = async (): Promise<void> => {
        try {
          const s = await transport.subscribe({
            durable: WEBHOOK_DURABLE,
            subjects: [...EVENT_SUBJECTS],
            // routing does not depend on order: each event's deliveries stand alone
            concurrency: 8,
            handler: async (event) => {
              await route(event);
            },
          });
          if (!running) await s.stop();
          else sub = s;
        } catch (err) {
          logger.warn({ err }, 'webhook consumer could not subscribe; retrying');
          if (running) setTimeout(() => void subscribe(), 2000).unref();
        }
      };
      await subscribe();
    },
    /** Throws unless the consumer is subscribed (readiness). */
    check(): void {
      if (running && !sub) throw new Error('webhook consumer not subscribed');
    },
    async stop(): Promise<void> {
      running = false;
      endWait?.();
      await loopDone;
      await Promise.allSettled([...inFlight]);
      const s = sub;
      sub = undefined;
      await s?.stop();
      await agent.close();
    },
  };
}
export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
