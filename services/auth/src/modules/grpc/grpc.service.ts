/**
 * The auth service's internal gRPC API (docs/grpc.md): `TokenService/Introspect` with the
 * same verifier and revocation list as the gateway, then the session store (the list is
 * what makes a revocation visible within a second everywhere; the store is what it is built
 * from, so an entry lost with Redis does not bring a revoked session back here), and
 * `UserDirectory` over the admin user list. Every answer is scoped to the calling
 * application's tenant.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { User as UserJson } from '@gatehouse/contracts';
import {
  GetUserResponseSchema,
  IntrospectResponseSchema,
  ListUsersResponseSchema,
  TokenService,
  UserDirectory,
  UserSchema,
  type User,
} from '@gatehouse/contracts/gen/gatehouse/auth/v1/auth_pb';
import type { TokenVerifier } from '@gatehouse/platform/auth';
import { isUuid } from '@gatehouse/platform/formats';
import { grpcCaller, grpcService, type GrpcRegistration } from '@gatehouse/platform/grpc';
import type { Database } from '../../db/schema';
import type { AdminUserService } from '../admin-users/admin-users.service';
import { sessionNotRevoked } from './grpc.queries';

/** A user in the directory's terms. */
function toProto(u: UserJson & { disabled?: boolean }): User {
  return create(UserSchema, {
    id: u.id,
    tenantId: u.tenantId,
    email: u.email,
    emailVerified: u.emailVerified,
    username: u.username ?? '',
    displayName: u.displayName ?? '',
    roles: u.roles,
    mfaEnabled: u.mfaEnabled,
    disabled: u.disabled ?? false,
    createTime: timestampFromDate(new Date(u.createdAt)),
    ...(u.lastLoginAt ? { lastLoginTime: timestampFromDate(new Date(u.lastLoginAt)) } : {}),
  });
}

/** Creates the registration; `verifier` is the service's access-token verifier (revocation list included). */
export function createAuthGrpc(deps: { db: Database; verifier: TokenVerifier; admin: AdminUserService }): GrpcRegistration {
  const { db, verifier, admin } = deps;
  return {
    services: [
      grpcService(TokenService, {
        async introspect(req, ctx) {
          const caller = grpcCaller(ctx);
          const inactive = create(IntrospectResponseSchema, { active: false });
          if (!req.token) return inactive;
          let claims;
          try {
            claims = await verifier.verify(req.token);
          } catch {
            // expired, forged, wrong audience, revoked: RFC 7662's answer, no reason given
            return inactive;
          }
          // the caller's tenant scopes the answer: another tenant's token is not active here
          if (claims.tid !== caller.tenantId) return inactive;
          if (!isUuid(claims.sid) || !(await db.withTenant(claims.tid, (trx) => sessionNotRevoked(trx, claims.sid)))) return inactive;
          return create(IntrospectResponseSchema, {
            active: true,
            sub: claims.sub,
            tid: claims.tid,
            sid: claims.sid,
            roles: claims.roles,
            permissions: claims.permissions ?? [],
            exp: BigInt(Math.floor(claims.exp)),
          });
        },
      }),
      grpcService(UserDirectory, {
        async getUser(req, ctx) {
          const caller = grpcCaller(ctx);
          if (!isUuid(req.id)) throw new ConnectError('id must be a user id (UUID)', Code.InvalidArgument);
          return create(GetUserResponseSchema, { user: toProto(await admin.get(caller.tenantId, req.id)) });
        },
        async listUsers(req, ctx) {
          const caller = grpcCaller(ctx);
          if (req.pageSize < 0 || req.pageSize > 200) throw new ConnectError('page_size must be between 1 and 200', Code.InvalidArgument);
          if (req.query.length > 200) throw new ConnectError('query must be at most 200 characters', Code.InvalidArgument);
          const page = await admin.list(caller.tenantId, {
            ...(req.query ? { query: req.query } : {}),
            ...(req.pageToken ? { cursor: req.pageToken } : {}),
            limit: req.pageSize || 50,
          });
          return create(ListUsersResponseSchema, { users: page.items.map(toProto), nextPageToken: page.nextCursor ?? '' });
        },
      }),
    ],
  };
}
