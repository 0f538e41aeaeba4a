/** Dashboard figures of a tenant: sign-ups, sign-ins, failed sign-ins and active users per day. */
import type { Database } from '../../db/schema';
import { dailyStats } from './stats.queries';
import type { DailyStat, DailyStats } from './stats.schemas';

const DAY_MS = 86_400_000;

/** YYYY-MM-DD of a UTC instant. */
function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Creates the stats service. */
export function createStatsService(deps: { db: Database; now?: () => Date }) {
  const { db, now = () => new Date() } = deps;
  return {
    /** The last `days` UTC days up to and including today, every day present (zeros where nothing happened). */
    async daily(tenantId: string, days: number): Promise<DailyStats> {
      const today = Date.UTC(now().getUTCFullYear(), now().getUTCMonth(), now().getUTCDate());
      const from = new Date(today - (days - 1) * DAY_MS);
      const to = new Date(today + DAY_MS);
      const rows = await db.withTenantRead(tenantId, (trx) => dailyStats(trx, tenantId, from, to));
      const byDay = new Map(rows.map((r) => [r.day, r]));
      const items: DailyStat[] = [];
      for (let t = from.getTime(); t < to.getTime(); t += DAY_MS) {
        const day = isoDay(new Date(t));
        const r = byDay.get(day);
        items.push({
          day,
          signUps: Number(r?.sign_ups ?? 0),
          signIns: Number(r?.sign_ins ?? 0),
          failedSignIns: Number(r?.failed_sign_ins ?? 0),
          activeUsers: Number(r?.active_users ?? 0),
        });
      }
      return { timezone: 'UTC', from: isoDay(from), to: isoDay(new Date(today)), items };
    },
  };
}
export type StatsService = ReturnType<typeof createStatsService>;
