/**
 * Every failed call is a {@link GatehouseError}: the problem+json body (RFC 9457) the API answers
 * with, read into typed fields, with the stable `code` to branch on.
 */

/** One field-level error of a `validation_failed` problem. */
export interface ProblemFieldError {
  path: string;
  message: string;
}

/** The problem+json body (RFC 9457) of every Gatehouse error. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  requestId?: string;
  errors?: ProblemFieldError[];
}

/** A failed API call. `status` 0 with `code` `network_error`: the server could not be reached. */
export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  /** the HTTP status (0: no answer) */
  readonly status: number;
  /** the stable error code (`invalid_credentials`, `token_expired`, `rate_limited`, …; `http_error` when the body had none) */
  readonly code: string;
  /** the human-readable explanation */
  readonly detail: string;
  readonly title: string | undefined;
  readonly type: string | undefined;
  /** per-field errors of `validation_failed` */
  readonly errors: ProblemFieldError[];
  /** the request id the server logged the failure under */
  readonly requestId: string | undefined;
  /** seconds from the Retry-After header, when the answer had one */
  readonly retryAfter: number | undefined;
  /** the whole problem body */
  readonly problem: Problem;

  constructor(status: number, problem: Problem = {}, opts: { retryAfter?: number; cause?: unknown } = {}) {
    const detail = problem.detail || problem.title || `The request failed (${status}).`;
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = status;
    this.code = problem.code ?? 'http_error';
    this.detail = detail;
    this.title = problem.title;
    this.type = problem.type;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.requestId = problem.requestId;
    this.retryAfter = opts.retryAfter;
    this.problem = problem;
  }

  /** Reads a failed response (its body is consumed). */
  static async fromResponse(res: Response): Promise<GatehouseError> {
    let problem: Problem = {};
    const type = res.headers.get('content-type') ?? '';
    if (/json/i.test(type)) {
      const body: unknown = await res.json().catch(() => undefined);
      if (body && typeof body === 'object' && !Array.isArray(body)) problem = body as Problem;
    } else {
      await res.body?.cancel().catch(() => {});
    }
    const retryAfter = retryAfterMs(res.headers.get('retry-after'));
    return new GatehouseError(res.status, problem, { retryAfter: retryAfter === undefined ? undefined : retryAfter / 1000 });
  }
}

/** Retry-After (seconds, or an HTTP date) in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
