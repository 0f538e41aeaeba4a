/** The users service's Fastify app: operations endpoints, OpenAPI, and the feature routes. */
import { createHttpApp, type HttpApp } from '@gatehouse/platform/http';
import type { UsersDeps } from './deps';
import { attendanceRoutes } from './modules/attendance/attendance.routes';
import { avatarRoutes } from './modules/avatars/avatars.routes';
import { eventRoutes } from './modules/events/events.routes';
import { profileRoutes } from './modules/profiles/profiles.routes';
import { qrRoutes } from './modules/qr/qr.routes';

/** Builds the app (tests use `app.inject`); listening is the caller's business. */
export async function buildApp(deps: UsersDeps): Promise<HttpApp> {
  const app = await createHttpApp({
    name: 'users',
    logger: deps.logger,
    bodyLimit: deps.config.bodyLimitBytes,
    // only the gateway (or a load balancer) reaches a service; client addresses arrive in X-Forwarded-For
    trustProxy: true,
    registry: deps.registry,
    openapi: { title: 'Gatehouse users', description: 'Profiles, avatars, attendance QR codes, events and check-ins.' },
    readiness: {
      database: () => deps.db.ping(),
      storage: () => deps.storage.ping(),
      events: () => deps.transport.ping(),
    },
  });
  const { requireUser, requireOrganizer } = deps;
  profileRoutes(app, { profiles: deps.profiles, requireUser });
  await avatarRoutes(app, { avatars: deps.avatars, requireUser });
  qrRoutes(app, { qr: deps.qr, requireUser });
  eventRoutes(app, { events: deps.events, requireUser, requireOrganizer });
  attendanceRoutes(app, { attendance: deps.attendance, requireUser, requireOrganizer });
  return app;
}
