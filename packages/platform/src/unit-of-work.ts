/**
 * The unit of work of a database transaction ({@link Database.withTenant},
 * {@link Database.transaction} in db.ts): what a change asks for besides its writes. Events
 * go into the outbox inside the transaction; the relay nudge and revocations happen only
 * after the commit, and none of it on a rollback. Hand-written (no library offers this for
 * Kysely): it is what every service change used to repeat by hand, in one place.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { CloudEvent } from './events/envelope';
import { enqueueEvents } from './events/outbox';
import type { RevocationList } from './revocation';

/** The second argument of a unit of work. */
export interface Emit {
  /** Enqueues events in this transaction's outbox; after the commit the outbox relay is nudged. */
  (...events: CloudEvent[]): Promise<void>;
  /** After the commit: the access tokens of these sessions fail everywhere. */
  revokeSessions(sessionIds: readonly string[]): void;
  /** After the commit: every token of this user issued up to then fails everywhere. */
  revokeUser(userId: string): void;
  /** After the commit: every token of this tenant issued up to then fails everywhere. */
  revokeTenant(tenantId: string): void;
}

/** What runs after a unit of work commits; set once per service by `db.onCommit` (deps.ts). */
export interface CommitHooks {
  /** the service's outbox relay, nudged after a commit that enqueued events */
  relay?: { nudge(): void };
  /** where revocations go; a unit of work that revokes without it fails (and rolls back) */
  revocations?: RevocationList;
  /** how long a revocation is remembered: the longest an access token can live, plus skew */
  revocationTtlMs?: number;
}

/**
 * The unit of work around one transaction: `emit` enqueues into it and records what must
 * follow the commit; the owner of the transaction calls `committed()` after the commit, or
 * `rolledBack()`.
 */
export function createUnitOfWork<DB>(trx: Kysely<DB> | Transaction<DB>, opts: { schema: string; hooks: CommitHooks; logger: Logger }) {
  const { schema, hooks, logger } = opts;
  let open = true;
  let events = 0;
  const sessions: string[] = [];
  const users: string[] = [];
  const tenants: string[] = [];
  const check = (what: string) => {
    if (!open) throw new Error(`emit${what} after the unit of work ended`);
  };
  const needRevocations = () => {
    if (!hooks.revocations || !hooks.revocationTtlMs) throw new Error('this database has no revocation list (db.onCommit)');
  };
  const emit: Emit = Object.assign(
    async (...list: CloudEvent[]) => {
      check('');
      await enqueueEvents(trx, schema, list);
      events += list.length;
    },
    {
      revokeSessions(ids: readonly string[]) {
        check('.revokeSessions');
        needRevocations();
        sessions.push(...ids);
      },
      revokeUser(userId: string) {
        check('.revokeUser');
        needRevocations();
        users.push(userId);
      },
      revokeTenant(tenantId: string) {
        check('.revokeTenant');
        needRevocations();
        tenants.push(tenantId);
      },
    },
  );

  return {
    emit,
    rolledBack() {
      open = false;
    },
    /** After the commit: nudge the relay, then publish revocations. A failure to publish is logged, not thrown: the change is committed. */
    async committed() {
      open = false;
      if (events > 0) hooks.relay?.nudge();
      const { revocations, revocationTtlMs: ttl = 0 } = hooks;
      if (!revocations) return;
      for (const sid of sessions) {
        try {
          await revocations.revokeSession(sid, ttl);
        } catch (err) {
          // The session is revoked in the database (its refresh token is dead) and in this
          // process; other processes learn it at their next reload of the shared list.
          logger.error({ err, sid }, 'could not publish a session revocation');
        }
      }
      for (const userId of users) {
        try {
          // millisecond precision (as for tenants below): tokens carry a fractional iat, so one
          // issued after this cut, even in the same second, is not covered (a role change must
          // not void the token the next refresh signs)
          await revocations.revokeUser(userId, Date.now() / 1000, ttl);
        } catch (err) {
          logger.error({ err, userId }, 'could not publish a user revocation');
        }
      }
      for (const tenantId of tenants) {
        try {
          await revocations.revokeTenant(tenantId, Date.now() / 1000, ttl);
        } catch (err) {
          // This process already refuses them; the gateway also answers 404 for a disabled
          // tenant once its cache drops it (on the tenant event, at most 5 s later).
          logger.error({ err, tenantId }, 'could not publish a tenant revocation');
        }
      }
    },
  };
}
export type UnitOfWork = ReturnType<typeof createUnitOfWork>;
