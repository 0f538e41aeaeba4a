import { Type } from 'typebox';

export const SessionSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  current: Type.Boolean({ description: 'the session of the access token making this request' }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time' }),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
});

export const SessionListSchema = Type.Object({ items: Type.Array(SessionSchema) });

export const SessionParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) });
