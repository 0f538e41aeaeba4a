/**
 * Fastify bootstrap shared by every service and the gateway: request ids, problem+json for
 * every failure (404, malformed JSON, body too large, schema failures, thrown AppErrors),
 * health and readiness, the request-duration histogram (served on METRICS_PORT by
 * {@link startMetricsServer}, never on this port). `buildApp` functions call
 * {@link createHttpApp}; `main.ts` files call `listen` on the result.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyListenOptions, type FastifyError, type FastifyInstance, type FastifyBaseLogger, type RawServerDefault, type FastifyReply } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, type ListenOptions, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import client from 'prom-client';
import type { Logger } from 'pino';
import { AppError, isDependencyDown, problem, statusTitle, type FieldError } from './errors';
import { createMetricsRegistry, histogram, observedGauge } from './metrics';
import { lazyChildLoggers } from './logger';
import { GATEHOUSE_VERSION } from './version';
import { nameServerSpan, serverSpansEnabled } from './tracing';
import { createTracedServer } from './traced-server';
import swagger from '@fastify/swagger';
import { unsafeCoercedInput, unsafeRequestInput } from './input';
import { bindDeferredSchemas, deferredCompilers } from './schema-compilers';

export type HttpApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface HttpAppOptions {
  /** service name, used in metrics and logs */
  name: string;
  logger: Logger;
  bodyLimit?: number;
  /** Fastify trustProxy value: addresses or CIDRs of trusted proxies (empty: trust none) */
  trustProxy?: string[] | boolean;
  /** readiness checks: each throws when its dependency is unreachable */
  readiness?: Record<string, () => Promise<unknown>>;
  /** serve /healthz and /readyz (default true); metrics are on METRICS_PORT, never here */
  operations?: boolean;
  /** a registry to add metrics to (all-in-one mode shares one) */
  registry?: client.Registry;
  /** document the routes as OpenAPI 3.1, served at /openapi.json (the gateway merges them) */
  openapi?: { title: string; version?: string; description?: string };
  /** what the HTTP server accepts, and how slowly (defaults: {@link SERVICE_SERVER_LIMITS}) */
  server?: Partial<ServerLimits>;
}

/** Limits of the HTTP server itself: how large and how slow a request may be. */
export interface ServerLimits {
  /** the whole request, headers and body, must arrive within this: else 408 `request_timeout` */
  requestTimeoutMs: number;
  /** the headers must arrive within this (at most requestTimeoutMs): else 408 `request_timeout` */
  headersTimeoutMs: number;
  /** request line and headers together, in bytes: else 431 `headers_too_large` */
  maxHeaderBytes: number;
  /** header lines: else 431 `headers_too_large` */
  maxHeaderLines: number;
}

/**
 * The services' limits. They sit above the gateway's (16 KiB, 100 lines, 30 s), so whatever
 * the gateway lets through, with the headers it adds, is never refused by a service.
 */
export const SERVICE_SERVER_LIMITS: ServerLimits = {
  requestTimeoutMs: 120_000,
  headersTimeoutMs: 60_000,
  maxHeaderBytes: 32 * 1024,
  maxHeaderLines: 1000,
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Sends a problem+json body for an error code. */
export function sendProblem(reply: FastifyReply, status: number, code: string, detail: string, fieldErrors?: FieldError[], headers?: Record<string, string>) {
  if (headers) for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send(problem(code, status, detail, String(reply.request.id), fieldErrors));
}

function validationErrors(err: FastifyError): FieldError[] {
  const list = err.validation ?? [];
  const out: FieldError[] = [];
  for (const v of list) {
    const base = (v.instancePath || '').replace(/^\//, '').replace(/\//g, '.');
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    // a `propertyNames` schema refusing a key: Ajv names the key here, not in instancePath
    const refusedKey = (v as { propertyName?: string }).propertyName ?? (v.params as { propertyName?: string } | undefined)?.propertyName;
    const where = err.validationContext ?? 'body';
    const path = [where, base, missing, refusedKey].filter(Boolean).join('.');
    const message = refusedKey !== undefined ? 'is not an accepted field' : (v.message ?? 'is not valid');
    if (!out.some((e) => e.path === path && e.message === message)) out.push({ path, message });
  }
  return out;
}

/** Maps Fastify's own error codes to Gatehouse problem codes. */
const fastifyCodes: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'This content type is not accepted here.'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'The request body is too large.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed_json', 'The JSON body is empty.'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json', 'The body is not valid JSON.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_request', 'Content-Length does not match the body.'],
  FST_ERR_CTP_INVALID_CONTENT_TYPE: [415, 'unsupported_media_type', 'The Content-Type header is not valid.'],
  FST_ERR_BAD_URL: [400, 'bad_request', 'The URL is not valid.'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'bad_request', 'The request is not valid.'],
};

/**
 * Apps that are draining (see {@link startDraining}), each with the connections accepted since
 * the drain began that have not yet carried a request (see {@link stopAccepting}).
 */
const drainingApps = new WeakMap<object, { fresh: Set<Socket> }>();

/**
 * First step of a graceful stop, before the app is closed: /readyz answers 503 `draining`
 * (an orchestrator or a health-checking balancer stops sending new requests here), and every
 * response from now on carries `Connection: close`, so each kept-alive connection a client
 * (nginx, the gateway) uses during the drain delay is closed by the server in an orderly way,
 * after a complete answer, instead of being cut when the server closes idle connections — the
 * race in which a client writes a request on a kept-alive socket just as the server destroys
 * it, which the client cannot safely resend when it is a POST. The listeners are added only
 * here, so a server that is not draining pays nothing per request.
 */
export function startDraining(app: HttpApp): void {
  if (drainingApps.has(app)) return;
  const fresh = new Set<Socket>();
  drainingApps.set(app, { fresh });
  app.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    fresh.delete(req.socket);
    res.setHeader('connection', 'close');
  });
  app.server.on('connection', (socket: Socket) => {
    fresh.add(socket);
    socket.once('close', () => fresh.delete(socket));
  });
}

/** True once {@link startDraining} ran for this app. */
export function isDraining(app: HttpApp): boolean {
  return drainingApps.has(app);
}

/**
 * Second step of a graceful stop, after the drain delay and before `app.close()`: closes the
 * listening socket (new connections are refused, which nginx and the gateway retry elsewhere
 * for every method: nothing was sent), then waits, at most `graceMs`, until every connection
 * accepted during the drain has begun its request (that request is then served, with
 * `Connection: close`, and `app.close()` waits for it).
 *
 * Why not `app.close()` at once: Node's `http.Server#close()` first destroys every connection
 * it sees as idle, and a connection accepted an instant earlier whose request bytes are still
 * in the kernel's buffer is idle to it. A proxy that opened that connection has already
 * written its request, so it sees a reset after sending, and it cannot resend a POST (nginx
 * answers 502): the fault suite's rolling restart lost one login or refresh in some runs this
 * way. So the listener is closed here with `net.Server#close` (which only stops accepting), and
 * `http.Server#close()` comes after the fresh connections became active.
 */
export async function stopAccepting(app: HttpApp, graceMs = 1000): Promise<void> {
  startDraining(app);
  const { fresh } = drainingApps.get(app)!;
  if (app.server.listening) NetServer.prototype.close.call(app.server);
  const until = Date.now() + graceMs;
  // bytesRead > 0: the request has begun, so Node counts the connection as active, not idle
  const unread = () => [...fresh].some((socket) => socket.bytesRead === 0);
  while (unread() && Date.now() < until) await sleep(5);
}

/**
 * Options for `app.listen`. Fastify hands them to Node's `server.listen`, which knows
 * `reusePort` (SO_REUSEPORT, Node 22.12+; LISTEN_REUSE_PORT), but its own type does not list it.
 */
export function listenOptions(host: string, port: number, reusePort = false): FastifyListenOptions {
  const options: FastifyListenOptions & Pick<ListenOptions, 'reusePort'> = { host, port };
  if (reusePort) options.reusePort = true;
  return options;
}

/** Creates a Fastify app with the platform's conventions. */
export async function createHttpApp(opts: HttpAppOptions): Promise<HttpApp> {
  const limits = { ...SERVICE_SERVER_LIMITS, ...opts.server };
  // each route's validators and serializers compile on its first request (schema-compilers.ts)
  const deferred = deferredCompilers();
  const logger = opts.logger.child({ service: opts.name });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    trustProxy: opts.trustProxy && (Array.isArray(opts.trustProxy) ? opts.trustProxy.length > 0 : true) ? opts.trustProxy : false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // request logging is ours (onResponse below), at debug level
    logController: new LogController({ disableRequestLogging: true }),
    // a request's child logger is made only if it logs at an enabled level (logger.ts)
    childLoggerFactory: lazyChildLoggers(logger),
    routerOptions: { maxParamLength: 200 },
    // A request that reaches the router after app.close() began (on a connection accepted before
    // the listener closed, see stopAccepting) is served, with `Connection: close`, not answered
    // Fastify's bare 503: its dependencies close only after app.close() has waited for it, and
    // a proxy cannot resend a refused POST (the fault suite's rolling restart lost a refresh so).
    return503OnClosing: false,
    // Node's own deadlines: without them (Fastify's default requestTimeout is 0) a body sent a
    // byte at a time holds its connection, and whatever it is forwarded to, forever.
    requestTimeout: limits.requestTimeoutMs,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      // how often Node looks for expired requests (its default, 30 s, would let a 30 s deadline run to 60 s)
      connectionsCheckingInterval: Math.min(5000, Math.max(250, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
      maxHeaderSize: limits.maxHeaderBytes,
      // Node answers a missing Host with an empty 400; the onRequest hook below answers a problem
      requireHostHeader: false,
    },
    clientErrorHandler: answerClientErrorWithProblem,
    // Errors the router raises before any hook runs (a malformed %-escape in the path, an
    // overlong parameter) get the same problem+json as every other failure.
    frameworkErrors: (err, _req, reply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : err.code === 'FST_ERR_ASYNC_CONSTRAINT' ? 500 : 400;
      return sendProblem(reply, status, status === 500 ? 'internal_error' : 'bad_request', status === 414 ? 'A path segment is too long.' : status === 500 ? 'Something went wrong on our side.' : 'The URL is not valid.');
    },
    ajv: { customOptions: { removeAdditional: true, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    schemaController: { compilersFactory: deferred.compilersFactory },
    // Tracing on: the same server Fastify would make (lib/server.js), its request listener
    // wrapped to open a SERVER span per request (traced-server.ts; tracing.ts says why not
    // instrumentation-http). Tracing off: Fastify's own server, untouched.
    ...(serverSpansEnabled()
      ? {
          serverFactory: createTracedServer,
        }
      : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();

  bindDeferredSchemas(app, deferred);

  const registry = opts.registry ?? createMetricsRegistry();
  // `route` is the route pattern (or `unmatched`), never the raw URL: a bounded label
  const duration = histogram(
    registry,
    'gatehouse_http_request_duration_seconds',
    'HTTP request duration by service, method, route and status',
    ['service', 'method', 'route', 'status'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  app.decorate('metricsRegistry', registry);
  // Each readiness check as a gauge (1 up, 0 down), run when Prometheus scrapes: the
  // "dependency down" alert reads it, whichever process sees the dependency fail.
  const dependencyUp = observedGauge(registry, 'gatehouse_dependency_up', 'Readiness check of a dependency as each service sees it (1 up, 0 down)', ['service', 'dependency']);
  const removeSources = Object.entries(opts.readiness ?? {}).map(([dependency, check]) =>
    dependencyUp.source({ service: opts.name, dependency }, () =>
      withTimeout(check(), 2000).then(
        () => 1,
        () => 0,
      ),
    ),
  );
  // Requests this app is handling now: the fault suite reads it from a replica just before
  // killing it (its failures should not exceed it), an operator sees a drain progress.
  let inFlight = 0;
  removeSources.push(
    observedGauge(registry, 'gatehouse_http_requests_in_flight', 'HTTP requests being handled now, by service', ['service']).source({ service: opts.name }, () => inFlight),
  );
  app.addHook('onClose', async () => {
    for (const remove of removeSources) remove();
  });

  // Node keeps only this many header lines (it drops the rest silently); one more than the
  // limit is kept so that an oversized request is seen and refused below.
  app.server.maxHeadersCount = limits.maxHeaderLines + 1;
  // The hooks every request runs are callback-style, not async: an async hook costs a promise
  // and a microtask turn before the next one, on every request of every service (issue 13).
  // A hook that answers sends the reply and does not call `done`.
  app.addHook('onRequest', (req, reply, done) => {
    inFlight++;
    // 'close' comes once per response, answered or aborted
    reply.raw.once('close', () => inFlight--);
    reply.header('x-request-id', req.id);
    if (req.raw.httpVersion === '1.1' && req.raw.headers.host === undefined) {
      return done(new AppError('bad_request', 400, { detail: 'The Host header is required.' }));
    }
    if (req.raw.rawHeaders.length / 2 > limits.maxHeaderLines) {
      return done(new AppError('headers_too_large', 431, { detail: `At most ${limits.maxHeaderLines} header lines are accepted.` }));
    }
    nameServerSpan(req.method, req.routeOptions.url ?? 'unmatched');
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    duration.observe({ service: opts.name, method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) req.log.warn({ method: req.method, route, status: reply.statusCode, ms: reply.elapsedTime }, 'request failed');
    else req.log.debug({ method: req.method, route, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
    done();
  });

  // NUL, lone surrogates and absurd nesting in any params, query or JSON body: refused before
  // schemas and handlers, so no route can pass them on to SQL (input.ts says why)
  app.addHook('preValidation', (req, reply, done) => {
    const bad = unsafeRequestInput(req);
    if (bad) void sendProblem(reply, 400, 'validation_failed', 'The request is not valid.', [bad]);
    else done();
  });
  app.addHook('preHandler', (req, reply, done) => {
    const bad = unsafeCoercedInput(req);
    if (bad) void sendProblem(reply, 400, 'validation_failed', 'The request is not valid.', [bad]);
    else done();
  });

  app.setNotFoundHandler((req, reply) => sendProblem(reply, 404, 'not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`));

  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) req.log.error({ err: err.cause ?? err, code: err.code }, 'request failed');
      return sendProblem(reply, err.status, err.code, err.detail ?? err.message, err.errors, err.headers);
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return sendProblem(reply, 400, 'validation_failed', 'The request is not valid.', validationErrors(fe));
    }
    const mapped = fe.code ? fastifyCodes[fe.code] : undefined;
    if (mapped) return sendProblem(reply, mapped[0], mapped[1], mapped[2]);
    if (fe instanceof SyntaxError) return sendProblem(reply, 400, 'malformed_json', 'The body is not valid JSON.');
    const status = fe.statusCode ?? 500;
    if (status === 429) {
      return sendProblem(reply, 429, 'rate_limited', 'Too many requests; slow down.');
    }
    if (status >= 400 && status < 500) {
      return sendProblem(reply, status, 'bad_request', fe.message || 'The request is not valid.');
    }
    if (isDependencyDown(err)) {
      req.log.warn({ err }, 'a dependency is unavailable');
      return sendProblem(reply, 503, 'service_unavailable', 'A dependency is unavailable; try again shortly.', undefined, { 'retry-after': '5' });
    }
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, 500, 'internal_error', 'Something went wrong on our side. The request id identifies it in the logs.');
  });

  if (opts.openapi) {
    // @fastify/swagger collects route schemas through onRoute, so it is registered before any route
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: opts.openapi.title, version: opts.openapi.version ?? '1.0.0', description: opts.openapi.description },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
      // components named by their schema's `$id` (e.g. `MfaChallenge`), not `def-0`
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  }

  if (opts.operations !== false) {
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
      if (drainingApps.has(app)) {
        return reply.code(503).send({ status: 'draining', checks: {}, version: GATEHOUSE_VERSION, uptimeSeconds: Math.round(process.uptime()) });
      }
      const checks: Record<string, string> = {};
      let ok = true;
      for (const [name, check] of Object.entries(opts.readiness ?? {})) {
        try {
          await withTimeout(check(), 2000);
          checks[name] = 'ok';
        } catch (err) {
          ok = false;
          checks[name] = err instanceof Error ? err.message.slice(0, 200) : 'unreachable';
        }
      }
      // version and uptime: the gateway's system view (GET /api/v1/admin/system) shows them
      return reply
        .code(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'unavailable', checks, version: GATEHOUSE_VERSION, uptimeSeconds: Math.round(process.uptime()) });
    });
  }
  return app;
}

/**
 * Node answers requests it cannot parse (oversized headers, malformed request lines, requests
 * that did not arrive in time) before Fastify sees them, and Fastify's default handler sends a
 * plain JSON body. Every error of ours is problem+json, these included.
 */
function answerClientErrorWithProblem(err: NodeJS.ErrnoException, socket: Socket) {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  // A reset connection, or an answer already begun on it: nothing can be sent any more.
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'The request headers are too large.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'The request took too long to arrive.']
        : [400, 'bad_request', 'The request could not be parsed.'];
  const body = JSON.stringify(problem(code, status, detail));
  socket.end(
    `HTTP/1.1 ${status} ${statusTitle(status)}\r\n` +
      'Content-Type: application/problem+json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
  // The client may still be sending: the socket is half-closed for a moment (so the answer is
  // read, not lost to a reset), then closed whatever the client does.
  const linger = setTimeout(() => socket.destroy(), 1000);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: client.Registry;
  }
}
