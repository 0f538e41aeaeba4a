/** HTTP schemas of the dashboard figures. */
import { Type, type Static } from 'typebox';

export const MAX_DAYS = 366;

export const DailyQuerySchema = Type.Object({
  days: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DAYS, default: 30, description: 'UTC days ending with today' })),
});
export type DailyQuery = Static<typeof DailyQuerySchema>;

const Count = Type.Integer({ minimum: 0 });

export const DailyStatSchema = Type.Object({
  day: Type.String({ format: 'date', description: 'UTC day, YYYY-MM-DD' }),
  signUps: { ...Count, description: 'user.events.created: new accounts' },
  signIns: { ...Count, description: 'auth.events.login_succeeded, except the session a registration opens' },
  failedSignIns: { ...Count, description: 'auth.events.login_failed' },
  activeUsers: { ...Count, description: "distinct actors of the day's entries (failed sign-ins left out)" },
});
export type DailyStat = Static<typeof DailyStatSchema>;

export const DailyStatsSchema = Type.Object({
  timezone: Type.Literal('UTC'),
  from: Type.String({ format: 'date', description: 'first day (inclusive)' }),
  to: Type.String({ format: 'date', description: 'last day (inclusive): today' }),
  items: Type.Array(DailyStatSchema, { description: 'one per day, oldest first; days without entries are zeros' }),
});
export type DailyStats = Static<typeof DailyStatsSchema>;
