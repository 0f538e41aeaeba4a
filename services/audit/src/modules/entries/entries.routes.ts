/** Routes of the audit trail: GET /api/v1/audit/events, /audit/me, /audit/verify. */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { authenticate, type TokenVerifier } from '@gatehouse/platform/auth';
import type { HttpApp } from '@gatehouse/platform/http';
import type { ChainService } from '../chain/chain.service';
import { exportFormat, exportLines, type ExportFormat } from './entries.export';
import { EntryListSchema, EventsQuerySchema, MeQuerySchema, VerifyResultSchema } from './entries.schemas';
import { toFilter, type EntriesService } from './entries.service';
import type { EntryFilter } from './entries.queries';


/** Sends a streamed export of every entry matching `filter`. */
export function sendExport(reply: FastifyReply, entries: EntriesService, tenantId: string, filter: EntryFilter, format: ExportFormat, name: string) {
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '');
  reply
    .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}-${stamp}.${format}"`)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store');
  return reply.send(Readable.from(exportLines(entries.export(tenantId, filter), format)));
}

/** Registers the audit trail routes. */
export function registerEntriesRoutes(app: HttpApp, deps: { entries: EntriesService; chain: ChainService; verifier: TokenVerifier }) {
  const { entries, chain, verifier } = deps;

  app.get(
    '/api/v1/audit/events',
    {
      preHandler: authenticate(verifier, ['admin']),
      schema: {
        tags: ['audit'],
        summary: "List or export the tenant's audit trail (admin)",
        description: 'Newest first, cursor-paginated. With format=ndjson|csv (or Accept: application/x-ndjson / text/csv) every match is streamed oldest first.',
        security: bearerSecurity,
        querystring: EventsQuerySchema,
        response: { 200: EntryListSchema, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const tenantId = req.auth!.tid;
      const { cursor, limit = 50, format, ...q } = req.query;
      const filter = toFilter(q);
      const fmt = exportFormat(format, req.headers.accept);
      if (fmt) return sendExport(reply, entries, tenantId, filter, fmt, 'audit');
      return entries.list(tenantId, filter, { cursor, limit });
    },
  );

  app.get(
    '/api/v1/audit/me',
    {
      preHandler: authenticate(verifier),
      schema: {
        tags: ['audit'],
        summary: "The caller's own activity",
        description: 'Entries the caller did (logins, sessions, password and MFA changes, profile updates, check-ins, social entries) or that were done to their account. Same paging and export as /audit/events.',
        security: bearerSecurity,
        querystring: MeQuerySchema,
        response: { 200: EntryListSchema, ...problems(400, 401) },
      },
    },
    async (req, reply) => {
      const { tid, sub } = req.auth!;
      const { cursor, limit = 50, format, ...q } = req.query;
      const filter = toFilter(q, { ownerId: sub });
      const fmt = exportFormat(format, req.headers.accept);
      if (fmt) return sendExport(reply, entries, tid, filter, fmt, 'activity');
      return entries.list(tid, filter, { cursor, limit });
    },
  );

  app.get(
    '/api/v1/audit/verify',
    {
      preHandler: authenticate(verifier, ['admin']),
      schema: {
        tags: ['audit'],
        summary: "Re-compute the tenant's hash chain (admin)",
        description: 'ok is false when an entry is missing, altered or out of order; brokenAt is the seq of the first one.',
        security: bearerSecurity,
        response: { 200: VerifyResultSchema, ...problems(401, 403) },
      },
    },
    async (req) => chain.verify(req.auth!.tid),
  );
}
