/**
 * The audit service's internal gRPC API (docs/grpc.md): the social log of the caller's
 * tenant. `Record` is POST /api/v1/social-logs on behalf of `actor_id` (same checks, same
 * per-user rate limit); `List` sees every entry of the tenant, addresses included (a trusted
 * service, like an admin).
 */
import { create, type JsonObject } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { AuditService, EntrySchema, ListResponseSchema, RecordResponseSchema, type Entry } from '@gatehouse/contracts/gen/gatehouse/audit/v1/audit_pb';
import { grpcCaller, grpcService, type GrpcCaller, type GrpcRegistration } from '@gatehouse/platform/grpc';
import type { AuditEntry } from '../chain/chain.schemas';
import { SOCIAL_TYPE_PATTERN } from '../social/social.schemas';
import type { SocialContext, SocialService } from '../social/social.service';

const TYPE = new RegExp(SOCIAL_TYPE_PATTERN);

function toProto(e: AuditEntry): Entry {
  return create(EntrySchema, {
    id: e.id,
    seq: BigInt(e.seq),
    type: e.type,
    actorId: e.actorId ?? '',
    targetId: e.subjectId ?? '',
    data: e.data as JsonObject,
    occurTime: timestampFromDate(new Date(e.occurredAt)),
    hash: e.hash,
  });
}

function checkType(type: string, required: boolean): void {
  if (!type && !required) return;
  if (type.length > 100 || !TYPE.test(type)) throw new ConnectError('type must be dotted lower-case words, e.g. post.liked', Code.InvalidArgument);
}

function checkId(name: string, value: string): void {
  if (value.length > 200) throw new ConnectError(`${name} must be at most 200 characters`, Code.InvalidArgument);
}

/** The social context of a service's call: the actor is the user it acts for. */
function context(caller: GrpcCaller, actorId: string, roles: string[]): SocialContext {
  return { tenantId: caller.tenantId, userId: actorId, roles, ip: null, userAgent: `grpc:${caller.clientId}`, requestId: null };
}

/** Creates the registration over the social-log service. */
export function createAuditGrpc(deps: { social: SocialService }): GrpcRegistration {
  const { social } = deps;
  return {
    services: [
      grpcService(AuditService, {
        async record(req, ctx) {
          const caller = grpcCaller(ctx);
          checkType(req.type, true);
          if (!req.actorId) throw new ConnectError('actor_id is required', Code.InvalidArgument);
          checkId('actor_id', req.actorId);
          checkId('target_id', req.targetId);
          const { entry } = await social.record(context(caller, req.actorId, []), {
            type: req.type,
            ...(req.targetId ? { targetId: req.targetId } : {}),
            ...(req.data ? { data: req.data } : {}),
          });
          return create(RecordResponseSchema, { entry: toProto(entry) });
        },
        async list(req, ctx) {
          const caller = grpcCaller(ctx);
          checkType(req.type, false);
          checkId('actor_id', req.actorId);
          checkId('target_id', req.targetId);
          if (req.pageSize < 0 || req.pageSize > 200) throw new ConnectError('page_size must be between 1 and 200', Code.InvalidArgument);
          const page = await social.list(context(caller, '', ['admin']), {
            ...(req.type ? { type: req.type } : {}),
            ...(req.actorId ? { actorId: req.actorId } : {}),
            ...(req.targetId ? { targetId: req.targetId } : {}),
            ...(req.pageToken ? { cursor: req.pageToken } : {}),
            limit: req.pageSize || 50,
          });
          return create(ListResponseSchema, { entries: page.items.map(toProto), nextPageToken: page.nextCursor ?? '' });
        },
      }),
    ],
  };
}
