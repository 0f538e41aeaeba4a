/**
 * The one error class of Gatehouse. Services throw `AppError` with a stable snake_case code;
 * the HTTP layer maps it to RFC 9457 problem+json. Services never build HTTP responses for errors.
 */
export interface FieldError {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Human title for an HTTP status. */
export function statusTitle(status: number): string {
  return titles[status] ?? (status >= 500 ? 'Server Error' : 'Error');
}

/** A domain error with a stable code; `status` is the HTTP status it maps to. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail?: string;
  readonly errors?: FieldError[];
  readonly headers?: Record<string, string>;

  constructor(code: string, status: number, opts: AppErrorOptions = {}) {
    super(opts.detail ?? code, { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.detail = opts.detail;
    this.errors = opts.errors;
    this.headers = opts.headers;
  }
}

/** Shorthands for codes every service uses. Feature codes live in each feature's *.errors.ts. */
export const errors = {
  validation: (errors: FieldError[], detail = 'The request is not valid.') =>
    new AppError('validation_failed', 400, { detail, errors }),
  notFound: (detail = 'Not found.') => new AppError('not_found', 404, { detail }),
  invalidToken: (detail = 'The access token is missing, invalid, expired or revoked.') =>
    new AppError('invalid_token', 401, { detail, headers: { 'www-authenticate': 'Bearer' } }),
  forbidden: (detail = 'You do not have the role this needs.') => new AppError('forbidden', 403, { detail }),
  unavailable: (detail = 'A dependency is unavailable; try again shortly.') =>
    new AppError('service_unavailable', 503, { detail, headers: { 'retry-after': '5' } }),
  rateLimited: (retryAfterSec: number) =>
    new AppError('rate_limited', 429, {
      detail: 'Too many requests; slow down.',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))) },
    }),
};

/** RFC 9457 problem details body as Gatehouse sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  errors?: FieldError[];
}

/** Builds the problem+json body for a code. */
export function problem(code: string, status: number, detail: string, requestId?: string, fieldErrors?: FieldError[]): Problem {
  const body: Problem = { type: `urn:gatehouse:problem:${code}`, title: statusTitle(status), status, detail, code };
  if (requestId) body.requestId = requestId;
  if (fieldErrors && fieldErrors.length) body.errors = fieldErrors;
  return body;
}

/** Connection-level error codes: Node's socket errors and PostgreSQL's connection/shutdown SQLSTATEs. */
const DEPENDENCY_DOWN_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006',
]);

/**
 * True when an unexpected error says a backing server (PostgreSQL, Redis, NATS) is not
 * reachable right now, rather than that the code is wrong: such a request answers 503
 * `service_unavailable` with Retry-After (the client may retry; a load balancer may try
 * another replica) instead of 500. pg reports a connection ended mid-use only in its message.
 */
export function isDependencyDown(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && DEPENDENCY_DOWN_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isDependencyDown(e.cause);
}
