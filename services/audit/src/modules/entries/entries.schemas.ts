/** HTTP schemas of the audit trail routes. */
import { Type, type Static } from 'typebox';
import { AuditEntrySchema } from '../chain/chain.schemas';

/** Entry ids and types as they appear in filters. */
const Id = Type.String({ minLength: 1, maxLength: 200 });
const EntryType = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*(\\.\\*)?$',
  description: 'exact type (auth.events.login_failed) or a prefix ending in .* (auth.events.*)',
});

export const ExportFormatParam = Type.Optional(
  Type.Union([Type.Literal('json'), Type.Literal('ndjson'), Type.Literal('csv')], {
    description: 'json (a page, default), or a streamed export of every match: ndjson or csv (also chosen by Accept: application/x-ndjson or text/csv)',
  }),
);

const Paging = {
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'nextCursor of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
};

const TimeRange = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'occurredAt at or after' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'occurredAt before' })),
};

export const EventsQuerySchema = Type.Object({
  type: Type.Optional(EntryType),
  actorId: Type.Optional(Id),
  subjectId: Type.Optional(Id),
  ...TimeRange,
  ...Paging,
  format: ExportFormatParam,
});
export type EventsQuery = Static<typeof EventsQuerySchema>;

export const MeQuerySchema = Type.Object({
  type: Type.Optional(EntryType),
  ...TimeRange,
  ...Paging,
  format: ExportFormatParam,
});
export type MeQuery = Static<typeof MeQuerySchema>;

export const EntryListSchema = Type.Object({
  items: Type.Array(AuditEntrySchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const VerifyResultSchema = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer({ minimum: 0, description: 'entries re-computed' }),
  brokenAt: Type.Optional(Type.Integer({ minimum: 1, description: 'seq of the first entry that is missing, altered or mislinked' })),
});
