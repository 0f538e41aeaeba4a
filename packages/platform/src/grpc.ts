/**
 * The internal gRPC API (API.md "gRPC (internal)", docs/grpc.md): Connect-RPC's Node adapter
 * on HTTP/2 (cleartext, prior knowledge), so one port answers gRPC, gRPC-Web and the Connect
 * protocol. Every server also has `grpc.health.v1.Health` and server reflection (v1 and
 * v1alpha), which need no token; every other call needs the bearer access token of an `m2m`
 * application (client_credentials) for the resource {@link INTERNAL_AUDIENCE} holding the
 * scope {@link INTERNAL_SCOPE}. Each service contributes a {@link GrpcRegistration}; a
 * process serves all of its services' registrations on one GRPC_PORT.
 */
import http2 from 'node:http2';
import { create, toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createContextKey, type ConnectRouter, type HandlerContext, type Interceptor, type ServiceImpl } from '@connectrpc/connect';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { Health, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from '@gatehouse/contracts/gen/grpc/health/v1/health_pb';
import * as reflectionV1 from '@gatehouse/contracts/gen/grpc/reflection/v1/reflection_pb';
import * as reflectionV1alpha from '@gatehouse/contracts/gen/grpc/reflection/v1alpha/reflection_pb';
import { ALLOWED_ALGORITHMS } from './auth';
import { AppError } from './errors';
import type { RevocationList } from './revocation';

/** The audience (OIDC API resource) of access tokens for the internal gRPC API. */
export const INTERNAL_AUDIENCE = 'urn:gatehouse:internal';
/** The scope a caller's token must hold. */
export const INTERNAL_SCOPE = 'gatehouse:internal';

/** Who is calling: the m2m application and its tenant (every answer is scoped to it). */
export interface GrpcCaller {
  tenantId: string;
  clientId: string;
  scopes: string[];
}

const callerKey = createContextKey<GrpcCaller | undefined>(undefined, { description: 'gatehouse gRPC caller' });

/** The authenticated caller of a handler (the interceptor set it; absent only for health and reflection). */
export function grpcCaller(ctx: HandlerContext): GrpcCaller {
  const caller = ctx.values.get(callerKey);
  if (!caller) throw new ConnectError('An access token is required.', Code.Unauthenticated);
  return caller;
}

/** One gRPC service and its handlers, as {@link grpcService} makes it. */
export interface GrpcServiceImpl {
  desc: DescService;
  /** handlers by method `localName` */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the methods of different services (typed where made, by grpcService)
  impl: Record<string, (req: any, ctx: HandlerContext) => any>;
}

/** A service's handlers, type-checked against its descriptor. */
export function grpcService<S extends DescService>(desc: S, impl: ServiceImpl<S>): GrpcServiceImpl {
  return { desc, impl: impl as unknown as GrpcServiceImpl['impl'] };
}

/** What one service serves: its gRPC services with their handlers (health and reflection come from the descriptors). */
export interface GrpcRegistration {
  services: GrpcServiceImpl[];
}

/**
 * A registration whose handlers are looked up on every call: the all-in-one process keeps
 * one gRPC server while a service behind it is stopped and restarted (`current` gives the
 * running instance's registration; none: UNAVAILABLE).
 */
export function delegatingRegistration(first: GrpcRegistration, current: () => GrpcRegistration | undefined, name: string): GrpcRegistration {
  return {
    services: first.services.map(({ desc }) => ({
      desc,
      impl: Object.fromEntries(
        desc.methods.map((m) => [
          m.localName,
          // eslint-disable-next-line @typescript-eslint/no-explicit-any -- forwarded as is to the typed handler
          (req: any, ctx: HandlerContext) => {
            const handler = current()?.services.find((x) => x.desc.typeName === desc.typeName)?.impl[m.localName];
            if (!handler) throw new ConnectError(`The ${name} service is not running.`, Code.Unavailable);
            return handler(req, ctx);
          },
        ]),
      ),
    })),
  };
}

/** Verifies callers' tokens; see the module comment. */
export function createGrpcAuthenticator(o: { keys: URL | JWTVerifyGetKey; revocations?: RevocationList }) {
  const getKey: JWTVerifyGetKey = o.keys instanceof URL ? createRemoteJWKSet(o.keys, { cooldownDuration: 5_000, cacheMaxAge: 10 * 60_000 }) : o.keys;
  return {
    async authenticate(header: string | null): Promise<GrpcCaller> {
      if (!header) throw new ConnectError('An access token is required (authorization: Bearer <token>).', Code.Unauthenticated);
      const m = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header);
      if (!m) throw new ConnectError('The authorization metadata must be "Bearer <token>".', Code.Unauthenticated);
      let payload: Record<string, unknown>;
      try {
        // One key set signs every tenant's tokens (the keys module), so the signature, `typ`
        // and expiry are checked here; the issuer is a tenant's (`<tenant origin>/oidc`) and
        // the tenant is the signed `tid` claim the provider adds.
        payload = (await jwtVerify(m[1]!, getKey, { algorithms: ALLOWED_ALGORITHMS, typ: 'at+jwt', requiredClaims: ['iss', 'sub', 'exp', 'iat', 'tid'], clockTolerance: 5 })).payload as Record<string, unknown>;
      } catch {
        throw new ConnectError('The access token is not valid.', Code.Unauthenticated);
      }
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!aud.includes(INTERNAL_AUDIENCE)) throw new ConnectError(`The access token is not for ${INTERNAL_AUDIENCE}.`, Code.PermissionDenied);
      // client_credentials tokens name the application as their subject; a user's token never does
      if (typeof payload.client_id !== 'string' || payload.sub !== payload.client_id || !String(payload.iss).endsWith('/oidc')) {
        throw new ConnectError('Only client_credentials access tokens of m2m applications may call this API.', Code.PermissionDenied);
      }
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
      if (!scopes.includes(INTERNAL_SCOPE)) throw new ConnectError(`The access token lacks the scope ${INTERNAL_SCOPE}.`, Code.PermissionDenied);
      const tid = payload.tid;
      if (typeof tid !== 'string') throw new ConnectError('The access token names no tenant.', Code.Unauthenticated);
      if (o.revocations?.isRevoked({ tid, iat: typeof payload.iat === 'number' ? payload.iat : 0 })) throw new ConnectError('The tenant is disabled.', Code.Unauthenticated);
      return { tenantId: tid, clientId: payload.client_id, scopes };
    },
  };
}
export type GrpcAuthenticator = ReturnType<typeof createGrpcAuthenticator>;

const HEALTH = 'grpc.health.v1.Health';

/** The standard health service: every registered service (and "") is SERVING while `serving()`. */
function registerHealth(router: ConnectRouter, names: Set<string>, serving: () => boolean, stopping: AbortSignal): void {
  const status = (service: string) => {
    if (service !== '' && !names.has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    return create(HealthCheckResponseSchema, { status: serving() ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING });
  };
  router.service(Health, {
    check: (req) => status(req.service),
    async *watch(req, ctx) {
      // the status changes only when the server stops: one answer, then the stream stays open until then
      yield status(req.service);
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        stopping.addEventListener('abort', () => resolve(), { once: true });
      });
      if (stopping.aborted) yield create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.NOT_SERVING });
    },
  });
}

/**
 * Server reflection from the generated descriptors. Hand-written (about 40 lines) because
 * `@grpc/reflection` mounts only on a grpc-js `Server` with proto-loader definitions, and
 * Connect-ES has no Node reflection package (connectrpc/grpcreflect is Go); the descriptors
 * protobuf-es generated are the very ones served, so nothing is loaded twice.
 */
function registerReflection(router: ConnectRouter, services: DescService[]): void {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const add = (f: DescFile) => {
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    for (const d of f.dependencies) add(d);
    for (const m of f.messages) symbols.set(m.typeName, f);
    for (const e of f.enums) symbols.set(e.typeName, f);
    for (const s of f.services) {
      symbols.set(s.typeName, f);
      for (const method of s.methods) symbols.set(`${s.typeName}.${method.name}`, f);
    }
  };
  for (const s of services) add(s.file);
  const withDeps = (f: DescFile, out = new Map<string, Uint8Array>()) => {
    if (!out.has(f.proto.name)) {
      out.set(f.proto.name, toBinary(FileDescriptorProtoSchema, f.proto));
      for (const d of f.dependencies) withDeps(d, out);
    }
    return [...out.values()];
  };
  type Req = reflectionV1.ServerReflectionRequest;
  function answer(req: Req): Omit<reflectionV1.ServerReflectionResponse, '$typeName' | 'originalRequest'> {
    const r = req.messageRequest;
    const found = (f: DescFile | undefined, what: string) =>
      f
        ? { messageResponse: { case: 'fileDescriptorResponse' as const, value: { $typeName: 'grpc.reflection.v1.FileDescriptorResponse' as const, fileDescriptorProto: withDeps(f) } } }
        : { messageResponse: { case: 'errorResponse' as const, value: { $typeName: 'grpc.reflection.v1.ErrorResponse' as const, errorCode: Code.NotFound, errorMessage: `${what} not found` } } };
    const base = { validHost: req.host };
    switch (r.case) {
      case 'listServices':
        return {
          ...base,
          messageResponse: {
            case: 'listServicesResponse',
            value: {
              $typeName: 'grpc.reflection.v1.ListServiceResponse',
              service: [...services.map((s) => s.typeName), HEALTH, 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'].map((name) => ({ $typeName: 'grpc.reflection.v1.ServiceResponse' as const, name })),
            },
          },
        };
      case 'fileByFilename':
        return { ...base, ...found(files.get(r.value), `file ${r.value}`) };
      case 'fileContainingSymbol':
        return { ...base, ...found(symbols.get(r.value), `symbol ${r.value}`) };
      default:
        return { ...base, messageResponse: { case: 'errorResponse', value: { $typeName: 'grpc.reflection.v1.ErrorResponse', errorCode: Code.Unimplemented, errorMessage: 'extensions are not used by these services' } } };
    }
  }
  router.service(reflectionV1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield create(reflectionV1.ServerReflectionResponseSchema, { ...answer(req), originalRequest: req });
    },
  });
  // v1alpha has the same messages under another package: translated through the wire format
  router.service(reflectionV1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        const v1 = create(reflectionV1.ServerReflectionRequestSchema, { host: req.host, messageRequest: req.messageRequest as Req['messageRequest'] });
        const a = answer(v1);
        const m = a.messageResponse;
        const messageResponse =
          m.case === 'listServicesResponse'
            ? { case: m.case, value: { service: m.value.service.map((s) => ({ name: s.name })) } }
            : m.case === 'fileDescriptorResponse'
              ? { case: m.case, value: { fileDescriptorProto: m.value.fileDescriptorProto } }
              : m.case === 'errorResponse'
                ? { case: m.case, value: { errorCode: m.value.errorCode, errorMessage: m.value.errorMessage } }
                : { case: undefined };
        yield create(reflectionV1alpha.ServerReflectionResponseSchema, { validHost: a.validHost, originalRequest: req, messageResponse } as never);
      }
    },
  });
}

/** A listening gRPC server. */
export interface GrpcServer {
  /** `http://host:port` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts one HTTP/2 (cleartext) server with health, reflection and the registrations, behind the caller check. */
export async function startGrpcServer(o: {
  host: string;
  port: number;
  registrations: GrpcRegistration[];
  authenticator: GrpcAuthenticator;
  logger: Logger;
  /** false while the process is stopping: health answers NOT_SERVING */
  serving?: () => boolean;
}): Promise<GrpcServer> {
  const services = o.registrations.flatMap((r) => r.services.map((x) => x.desc));
  const open = (name: string) => name === HEALTH || name.startsWith('grpc.reflection.');
  const authenticate: Interceptor = (next) => async (req) => {
    if (!open(req.service.typeName)) req.contextValues.set(callerKey, await o.authenticator.authenticate(req.header.get('authorization')));
    try {
      return await next(req);
    } catch (err) {
      const mapped = toConnectError(err);
      if (mapped.code === Code.Internal && !(err instanceof ConnectError)) o.logger.error({ err, procedure: req.url }, 'gRPC handler failed');
      throw mapped;
    }
  };
  const stopping = new AbortController();
  // Connect's Node adapter (with its HTTP/2 and compression code) is imported on the first
  // call, not at start: a process nobody calls over gRPC never loads it (issue 13, memory).
  type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  let adapter: Promise<Handler> | undefined;
  const load = () =>
    (adapter ??= import('@connectrpc/connect-node').then(({ connectNodeAdapter }) =>
      connectNodeAdapter({
        interceptors: [authenticate],
        routes: (router) => {
          registerHealth(router, new Set(services.map((s) => s.typeName)), () => !stopping.signal.aborted && (o.serving?.() ?? true), stopping.signal);
          registerReflection(router, services);
          for (const r of o.registrations) for (const { desc, impl } of r.services) router.service(desc, impl as never); // typed where made (grpcService)
        },
      }),
    ));
  const handler: Handler = (req, res) => {
    load().then(
      (handle) => handle(req, res),
      (err: unknown) => {
        // the package could not be loaded (a broken install): HTTP 503, which gRPC clients read as UNAVAILABLE
        adapter = undefined;
        o.logger.error({ err }, 'gRPC: @connectrpc/connect-node could not be loaded');
        if (res.headersSent) return res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '5' });
        res.end(JSON.stringify({ type: 'urn:gatehouse:problem:grpc_unavailable', title: 'Service Unavailable', status: 503, code: 'grpc_unavailable', detail: 'The gRPC server could not load its protocol adapter.' }));
      },
    );
  };
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the gRPC server did not get a TCP address');
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // open Watch streams end (NOT_SERVING), in-flight calls finish, then the sessions close
      stopping.abort();
      for (const s of sessions) s.close();
      await closed;
    },
  };
}

const STATUS_CODES: Record<number, Code> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  409: Code.AlreadyExists,
  413: Code.InvalidArgument,
  422: Code.InvalidArgument,
  429: Code.ResourceExhausted,
  503: Code.Unavailable,
};

/**
 * The one error class in gRPC terms: an AppError's HTTP status becomes the matching code and
 * its stable `code` leads the message (`invalid_cursor: …`); anything else is INTERNAL with
 * no detail (logged by the interceptor).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof AppError) return new ConnectError(`${err.code}: ${err.detail ?? err.message}`, STATUS_CODES[err.status] ?? (err.status >= 500 ? Code.Internal : Code.FailedPrecondition));
  return new ConnectError('internal error', Code.Internal);
}
