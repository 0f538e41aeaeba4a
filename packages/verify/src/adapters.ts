/**
 * The verifier as middleware: Fastify (a preHandler), Express (a middleware) and plain Node
 * (a handler wrapper). Each sets `req.gatehouse` ({@link GatehouseAuth}) or answers the
 * refusal as problem+json: 401 `invalid_token` with `WWW-Authenticate: Bearer`, 403 `forbidden`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VerifyError } from './errors.js';
import { requireGrants as requireAll, type GatehouseAuth, type Requirements, type Verifier } from './verifier.js';

/** A request the middleware has verified. */
export type VerifiedRequest<R extends IncomingMessage = IncomingMessage> = R & { gatehouse: GatehouseAuth };

function refusal(err: unknown): VerifyError {
  if (err instanceof VerifyError) return err;
  return new VerifyError(503, 'service_unavailable', 'The access token could not be checked; try again shortly.');
}

/** Writes a refusal to a Node response. */
export function sendRefusal(res: ServerResponse, err: unknown): void {
  const e = refusal(err);
  res.writeHead(e.status, e.headers);
  res.end(JSON.stringify(e.problem));
}

async function check(verifier: Verifier, req: IncomingMessage, need?: Requirements): Promise<GatehouseAuth> {
  const auth = await verifier.authenticate(req);
  requireAll(auth, need);
  (req as VerifiedRequest).gatehouse = auth;
  return auth;
}

/** Minimal Fastify shapes, so the package needs no fastify at run time. */
interface FastifyLikeRequest {
  raw: IncomingMessage;
  gatehouse?: GatehouseAuth;
}
interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(payload: unknown): FastifyLikeReply;
}

/**
 * Fastify: `app.addHook('preHandler', fastifyVerify(verifier))`, or per route
 * `{ preHandler: fastifyVerify(verifier, { roles: ['admin'] }) }`; then `req.gatehouse`.
 */
export function fastifyVerify(verifier: Verifier, need?: Requirements) {
  return async (req: FastifyLikeRequest, reply: FastifyLikeReply): Promise<void> => {
    try {
      req.gatehouse = await check(verifier, req.raw, need);
    } catch (err) {
      const e = refusal(err);
      reply.code(e.status).headers(e.headers).send(JSON.stringify(e.problem));
      return reply as unknown as void;
    }
  };
}

/** Express (or Connect): `app.use(expressVerify(verifier))`; then `req.gatehouse`. */
export function expressVerify(verifier: Verifier, need?: Requirements) {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    check(verifier, req, need).then(
      () => next(),
      (err: unknown) => sendRefusal(res, err),
    );
  };
}

/**
 * Plain Node: `http.createServer(protect(verifier, (req, res) => res.end(req.gatehouse.user.id)))`.
 * The handler runs only for a verified request.
 */
export function protect<R extends IncomingMessage = IncomingMessage>(
  verifier: Verifier,
  handler: (req: VerifiedRequest<R>, res: ServerResponse) => unknown,
  need?: Requirements,
) {
  return (req: R, res: ServerResponse): void => {
    check(verifier, req, need).then(
      () =>
        Promise.resolve()
          .then(() => handler(req as VerifiedRequest<R>, res))
          .catch(() => {
            // the handler's own failure: a 500, never an unhandled rejection
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/problem+json; charset=utf-8' });
            res.end(res.headersSent ? undefined : JSON.stringify({ type: 'urn:gatehouse:problem:internal_error', title: 'Internal Server Error', status: 500, detail: 'The handler failed.', code: 'internal_error' }));
          }),
      (err: unknown) => sendRefusal(res, err),
    );
  };
}
