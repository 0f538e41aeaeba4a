/** Attendance routes: check-in/out by QR scan (organizers), event lists (JSON or CSV), the caller's own list. */
import type { FastifyReply, preHandlerAsyncHookHandler } from 'fastify';
import type { HttpApp } from '@gatehouse/platform/http';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { IdParams } from '../../common';
import { AttendanceSchema, EventAttendanceList, MyAttendanceList, MyAttendanceQuery, RosterBody, RosterSchema, ScanBody } from './attendance.schemas';
import type { AttendanceService } from './attendance.service';

/** True when the client asks for CSV rather than JSON (an explicit text/csv with q > 0 in Accept). */
function wantsCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.trim().toLowerCase().split(';').map((s) => s.trim());
    if (type !== 'text/csv') return false;
    const q = params.find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

/** Registers the check-in/out and attendance list routes. */
export function attendanceRoutes(
  app: HttpApp,
  deps: { attendance: AttendanceService; requireUser: preHandlerAsyncHookHandler; requireOrganizer: preHandlerAsyncHookHandler },
) {
  const { attendance, requireUser, requireOrganizer } = deps;

  app.post(
    '/api/v1/events/:id/check-ins',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'Check a member in by their QR token (organizer)',
        description: '201 with the new record; a repeated scan of the same member answers 200 with the same record.',
        security: bearerSecurity,
        params: IdParams,
        body: ScanBody,
        response: { 200: AttendanceSchema, 201: AttendanceSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const r = await attendance.checkIn(req.auth!, req.params.id, req.body.qrToken);
      return reply.code(r.created ? 201 : 200).send(r.attendance);
    },
  );

  app.post(
    '/api/v1/events/:id/check-outs',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'Check a member out by their QR token (organizer)',
        security: bearerSecurity,
        params: IdParams,
        body: ScanBody,
        response: { 200: AttendanceSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => attendance.checkOut(req.auth!, req.params.id, req.body.qrToken),
  );

  async function sendCsv(reply: FastifyReply, tenantId: string, eventId: string) {
    const csv = await attendance.forEventCsv(tenantId, eventId);
    return reply
      .type('text/csv; charset=utf-8; header=present')
      .header('content-disposition', `attachment; filename="attendance-${eventId}.csv"`)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-store')
      .send(csv);
  }

  app.get(
    '/api/v1/events/:id/attendance',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'Attendance of an event (organizer); CSV with `Accept: text/csv`',
        security: bearerSecurity,
        params: IdParams,
        response: {
          200: {
            description: 'the records, by check-in time',
            content: {
              'application/json': { schema: EventAttendanceList },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      reply.header('vary', 'Accept');
      if (wantsCsv(req.headers.accept)) return sendCsv(reply, req.auth!.tid, req.params.id);
      return reply.type('application/json; charset=utf-8').send({ items: await attendance.forEvent(req.auth!.tid, req.params.id) });
    },
  );

  app.put(
    '/api/v1/events/:id/roster',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'Set the members an event expects (organizer)',
        description:
          'Replaces the roster. The attendance report then lists each expected member who has not checked in as `absent`. Ids that are not members of the tenant: 400 `validation_failed` naming them.',
        security: bearerSecurity,
        params: IdParams,
        body: RosterBody,
        response: { 200: RosterSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => attendance.setRoster(req.auth!.tid, req.params.id, req.body.userIds),
  );

  app.get(
    '/api/v1/events/:id/roster',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'The members an event expects (organizer)',
        security: bearerSecurity,
        params: IdParams,
        response: { 200: RosterSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => attendance.roster(req.auth!.tid, req.params.id),
  );

  app.get(
    '/api/v1/events/:id/attendance.csv',
    {
      preHandler: requireOrganizer,
      schema: {
        tags: ['attendance'],
        summary: 'Attendance of an event as CSV (organizer)',
        security: bearerSecurity,
        params: IdParams,
        response: { 200: { description: 'CSV', content: { 'text/csv': { schema: { type: 'string' } } } }, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => sendCsv(reply, req.auth!.tid, req.params.id),
  );

  app.get(
    '/api/v1/users/me/attendance',
    {
      preHandler: requireUser,
      schema: {
        tags: ['attendance'],
        summary: 'The caller’s attendance, newest first',
        security: bearerSecurity,
        querystring: MyAttendanceQuery,
        response: { 200: MyAttendanceList, ...problems(400, 401, 403) },
      },
    },
    async (req) => attendance.forUser(req.auth!.tid, req.auth!.sub, req.query),
  );
}
