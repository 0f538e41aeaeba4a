/**
 * The auth service's purge: ended sessions with all their refresh tokens (one row per
 * rotation), spent one-time tokens, finished webhook deliveries with their attempts, and the platform's published outbox and processed inbox
 * rows. Short-lived challenges (MFA login tokens, OAuth states and exchange codes, passkey
 * challenges) live in the key-value store with a TTL and need no purge; backup codes are a
 * bounded set per user, replaced whole.
 *
 * Tenant-owned rows are deleted tenant by tenant inside `withTenant`, a batch per transaction,
 * so RLS holds for the purge too and no transaction holds many locks or lasts long.
 */
import type { Config } from '@gatehouse/platform/config';
import type { Database, Tx } from '@gatehouse/platform/db';
import { drain, outboxPurgeTasks, type PurgeTask } from '@gatehouse/platform/purge';
import { purgeExpiredPayloads } from '../oidc/oidc.queries';
import { deleteEndedSessionTokens, deleteEndedSessions, deleteSpentOneTimeTokens, listTenantIdsAfter } from './purge.queries';
import { deleteOldAttempts, deleteOldDeliveries } from '../webhooks/webhooks.queries';

const TENANT_PAGE = 500;

/** The auth service's purge tasks, in the order they run. */
export function authPurgeTasks(db: Database, retention: Config['purge']): PurgeTask[] {
  /** Runs `batch` for every tenant, draining each, a tenant transaction per batch. */
  function perTenant(batch: (trx: Tx, tenantId: string, limit: number) => Promise<number>) {
    return async (size: number, stopping: () => boolean) => {
      let total = 0;
      let after: string | null = null;
      for (;;) {
        const ids = await listTenantIdsAfter(db.admin, after, TENANT_PAGE);
        for (const tenantId of ids) {
          if (stopping()) return total;
          total += await drain(size, (limit) => db.withTenant(tenantId, (trx) => batch(trx, tenantId, limit)), stopping);
        }
        if (ids.length < TENANT_PAGE) return total;
        after = ids[ids.length - 1]!;
      }
    };
  }
  return [
    // tokens before their sessions: the cascade would otherwise delete thousands of rows in one statement
    { name: 'auth.refresh_tokens', run: perTenant((trx, t, limit) => deleteEndedSessionTokens(trx, t, retention.sessionsSec, limit)) },
    { name: 'auth.sessions', run: perTenant((trx, t, limit) => deleteEndedSessions(trx, t, retention.sessionsSec, limit)) },
    { name: 'auth.one_time_tokens', run: perTenant((trx, t, limit) => deleteSpentOneTimeTokens(trx, t, retention.oneTimeTokensSec, limit)) },
    // the OpenID provider's expired codes, tokens, sessions, grants and interactions
    { name: 'auth.oidc_payloads', run: perTenant((trx, t, limit) => purgeExpiredPayloads(trx, t, limit)) },
    // attempts before their deliveries, for the same reason as tokens before sessions
    { name: 'auth.webhook_attempts', run: perTenant((trx, t, limit) => deleteOldAttempts(trx, t, retention.webhookDeliveriesSec, limit)) },
    { name: 'auth.webhook_deliveries', run: perTenant((trx, t, limit) => deleteOldDeliveries(trx, t, retention.webhookDeliveriesSec, limit)) },
    ...outboxPurgeTasks(db.admin, db.schema, retention),
  ];
}
