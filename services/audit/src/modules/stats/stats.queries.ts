/** SQL of the dashboard figures: one aggregate over a tenant's entries in a time range. */
import { sql } from 'kysely';
import type { Tx } from '../../db/schema';

/** Entry types the dashboard counts (what the auth and users services publish). */
export const STAT_TYPES = {
  /** a new account, however it was made (self-registration, admin creation, invitation, first social sign-in) */
  signUp: 'user.events.created',
  /** a session opened with credentials; the session a registration opens is a sign-up, not a sign-in */
  signIn: 'auth.events.login_succeeded',
  /** a refused sign-in (wrong password, wrong second factor, locked, disabled) */
  failedSignIn: 'auth.events.login_failed',
} as const;

/** Figures of one UTC day. */
export interface DailyRow {
  day: string;
  sign_ups: string;
  sign_ins: string;
  failed_sign_ins: string;
  active_users: string;
}

/**
 * Figures per UTC day of entries with `from <= occurred_at < to`. A range scan of the
 * `entries_tenant_time (tenant_id, occurred_at)` index; days without entries are absent.
 * Active users: distinct actors of the day's entries, failed sign-ins left out (a refused
 * attempt is no activity, and may name an account its owner never touched).
 */
export async function dailyStats(trx: Tx, tenantId: string, from: Date, to: Date): Promise<DailyRow[]> {
  const day = sql<string>`to_char(date_trunc('day', occurred_at at time zone 'UTC'), 'YYYY-MM-DD')`;
  return trx
    .selectFrom('entries')
    .select([
      day.as('day'),
      sql<string>`count(*) filter (where type = ${STAT_TYPES.signUp})`.as('sign_ups'),
      sql<string>`count(*) filter (where type = ${STAT_TYPES.signIn} and (data->>'reason') is distinct from 'registration')`.as('sign_ins'),
      sql<string>`count(*) filter (where type = ${STAT_TYPES.failedSignIn})`.as('failed_sign_ins'),
      sql<string>`count(distinct actor_id) filter (where type <> ${STAT_TYPES.failedSignIn})`.as('active_users'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('occurred_at', '>=', from)
    .where('occurred_at', '<', to)
    .groupBy(day)
    .orderBy(day)
    .execute();
}
