/** Route of the dashboard figures: GET /api/v1/audit/stats/daily. */
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import type { HttpApp } from '@gatehouse/platform/http';
import { DailyQuerySchema, DailyStatsSchema } from './stats.schemas';
import type { StatsService } from './stats.service';

/** Registers the stats routes. */
export function registerStatsRoutes(app: HttpApp, deps: { stats: StatsService; verifier: TokenVerifier }) {
  const { stats, verifier } = deps;
  app.get(
    '/api/v1/audit/stats/daily',
    {
      preHandler: authenticate(verifier, ['admin']),
      schema: {
        tags: ['audit'],
        summary: "Sign-ups, sign-ins, failed sign-ins and active users per UTC day (admin)",
        description: "From the tenant's audit trail: one item per day of the last `days` (default 30) up to today, oldest first.",
        security: bearerSecurity,
        querystring: DailyQuerySchema,
        response: { 200: DailyStatsSchema, ...problems(400, 401, 403) },
      },
    },
    async (req) => stats.daily(req.auth!.tid, req.query.days ?? 30),
  );
}
