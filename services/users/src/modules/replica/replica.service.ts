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
import type { UserEventData } from '@gatehouse/contracts';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const optionalText = (v: unknown, max: number): string | null | undefined =>
  v === undefined ? undefined : typeof v === 'string' ? v.slice(0, max) : null;

/** Checks an event's data; undefined when it cannot be applied (redelivery would not help). */
function parse(event: CloudEvent): (Partial<UserEventData> & { id: string }) | undefined {
  const d = event.data as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || typeof d.id !== 'string' || !UUID.test(d.id)) return undefined;
  if (!UUID.test(event.tenantid)) return undefined;
  return {
    id: d.id.toLowerCase(),
    email: typeof d.email === 'string' ? d.email.slice(0, 320) : undefined,
    username: optionalText(d.username, 256),
    displayName: optionalText(d.displayName, 200),
  };
}

/** Creates the identity replica; `start()` subscribes (and catches up), `stop()` unsubscribes. */
export function createReplica(deps: { db: Database; transport: EventTransport; deletions: ObjectDeletions; logger: Logger }) {
  const { db, transport, deletions, logger } = deps;
  let sub: { stop(): Promise<void> } | undefined;

  /** Applies one identity event; safe to call again with the same event. */
  async function handle(event: CloudEvent): Promise<void> {
    if (!HANDLED.has(event.type)) return;
    const data = parse(event);
    if (!data) {
      logger.error({ id: event.id, type: event.type }, 'ignoring a user event with unusable data');
      return;
    }
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
      if (data.email === undefined) {
        logger.error({ id: event.id, type: event.type }, 'user event without an email; profile not changed');
        return;
      }
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
