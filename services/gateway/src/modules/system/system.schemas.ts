/** The system view's response (`GET /api/v1/admin/system`, API.md "Operations"). */
import { Type, type Static } from 'typebox';

const Point = Type.Object({
  /** start of the minute, ISO 8601 */
  at: Type.String(),
  requests: Type.Integer(),
  errors: Type.Integer(),
  /** 99th percentile latency in ms (upper bound of the histogram bucket), null without requests */
  p99Ms: Type.Union([Type.Number(), Type.Null()]),
});

export const SystemServiceSchema = Type.Object({
  name: Type.String(),
  status: Type.Union([Type.Literal('ready'), Type.Literal('degraded'), Type.Literal('down')]),
  version: Type.Union([Type.String(), Type.Null()]),
  uptimeSeconds: Type.Union([Type.Integer(), Type.Null()]),
  checks: Type.Record(Type.String(), Type.String()),
  /** the gateway's view of this service: requests, 5xx answers and p99 latency */
  figures: Type.Object({
    requestsLastHour: Type.Integer(),
    errorsLastHour: Type.Integer(),
    p99MsLastHour: Type.Union([Type.Number(), Type.Null()]),
    /** one point per minute, oldest first, at most 60 */
    history: Type.Array(Point),
  }),
});

export const SystemResponseSchema = Type.Object({
  generatedAt: Type.String(),
  services: Type.Array(SystemServiceSchema),
  /** each backing part as each service reports it (`auth.database`, `gateway.kv`...) */
  dependencies: Type.Array(Type.Object({ name: Type.String(), service: Type.String(), status: Type.Union([Type.Literal('up'), Type.Literal('down')]), detail: Type.Optional(Type.String()) })),
});
export type SystemResponse = Static<typeof SystemResponseSchema>;
export type SystemServiceView = Static<typeof SystemServiceSchema>;
