/**
 * The identity replica: this service learns about users only from `user.events.created`,
 * `.updated` and `.deleted`, through a durable consumer (`users-replica`: a JetStream durable
 * consumer in production, the in-process transport embedded). A durable consumer starts from
 * the oldest retained event and resumes where it stopped, so a users service that was down
 * catches up on start and misses nothing.
 *
 * Each event is applied once (`consumeOnce`: the inbox row and the change commit together).
 * This is cross-tenant work, so it runs on the owner connection, but every change is made
 * after switching the transaction to the application role with the event's tenant set: the
 * rows it touches are under the same RLS as a request's.
 */
import type { Logger } from 'pino';
import type { Database } from '../../db/schema';
import { consumeOnce, type CloudEvent, type EventTransport } from '@gatehouse/platform/events';
import { payloadProblem, UserEventDataSchema, type UserEventData } from '@gatehouse/contracts';
import { isUuid } from '@gatehouse/platform/formats';
import type { ObjectDeletions } from '../avatars/avatars.deletions';
import { queueDeletions } from '../avatars/avatars.queries';
import { actAsTenant, deleteIdentity, isDeleted, upsertIdentity } from './replica.queries';

/** Durable consumer name, shared by every replica of the users service. */
export const REPLICA_DURABLE = 'users-replica';
/**
 * One wildcard rather than the three subjects: a single filter is applied by the server even
 * on NATS < 2.10 (several filters would make every event of the stream travel to this
 * consumer). Types other than the three below are skipped in `handle`.
 */
export const REPLICA_SUBJECTS = ['user.events.>'];
const HANDLED = new Set(['user.events.created', 'user.events.updated', 'user.events.deleted']);

const optionalText = (v: unknown, max: number): string | null | undefined =>
  v === undefined ? undefined : typeof v === 'string' ? v.slice(0, max) : null;

/**
 * Checks an event against the `user.events.*` contract: the data, or why it cannot be applied
 * (redelivery would not help, so such an event is a dead letter).
 */
function parse(event: CloudEvent): { ok: true; data: Pick<UserEventData, 'id' | 'email' | 'username' | 'displayName'> } | { ok: false; reason: string } {
  if (!isUuid(event.tenantid)) return { ok: false, reason: 'tenantid is not a UUID' };
  const problem = payloadProblem(UserEventDataSchema, event.data);
  if (problem) return { ok: false, reason: problem };
  const d = event.data as UserEventData;
  return {
    ok: true,
    data: { id: d.id.toLowerCase(), email: d.email.slice(0, 320), username: optionalText(d.username, 256) ?? null, displayName: optionalText(d.displayName, 200) },
  };
}

/** Creates the identity replica; `start()` subscribes (and catches up), `stop()` unsubscribes. */
export function createReplica(deps: { db: Database; transport: EventTransport; deletions: ObjectDeletions; logger: Logger }) {
  const { db, transport, deletions, logger } = deps;
  let sub: { stop(): Promise<void> } | undefined;

  /** Applies one identity event; safe to call again with the same event. */
  async function handle(event: CloudEvent): Promise<void> {
    if (!HANDLED.has(event.type)) return;
    const parsed = parse(event);
    if (!parsed.ok) {
      // the dead-letter path: logged and acknowledged, never applied, never retried
      logger.error({ id: event.id, type: event.type, reason: parsed.reason }, 'user event parked as a dead letter: it does not match its contract');
      return;
    }
    const { data } = parsed;
    const tenantId = event.tenantid.toLowerCase();
    const at = new Date(event.time);
    const freed: string[] = [];
    const applied = await consumeOnce(db.admin, db.schema, REPLICA_DURABLE, event.id, async (trx) => {
      await actAsTenant(trx, tenantId);
      if (event.type === 'user.events.deleted') {
        const { avatarKey } = await deleteIdentity(trx, tenantId, data.id, at);
        if (avatarKey) {
          await queueDeletions(trx, [avatarKey]);
          freed.push(avatarKey);
        }
        return;
      }
      if (await isDeleted(trx, data.id)) return; // a late created/updated must not revive a deleted user
      await upsertIdentity(trx, {
        tenant_id: tenantId,
        id: data.id,
        email: data.email,
        username: data.username,
        display_name: data.displayName,
        at,
      });
    });
    if (applied) logger.debug({ id: event.id, type: event.type, user: data.id }, 'identity event applied');
    if (freed.length) await deletions.deleteNow(freed);
  }

  return {
    handle,
    async start() {
      if (sub) return;
      sub = await transport.subscribe({ durable: REPLICA_DURABLE, subjects: REPLICA_SUBJECTS, handler: handle });
    },
    async stop() {
      const s = sub;
      sub = undefined;
      await s?.stop();
    },
  };
}
export type Replica = ReturnType<typeof createReplica>;
