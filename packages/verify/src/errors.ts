/** The refusals of the middleware, as the problem+json (RFC 9457) bodies Gatehouse itself answers with. */

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

/** A refused request: 401 `invalid_token` (with `WWW-Authenticate: Bearer`) or 403 `forbidden`. */
export class VerifyError extends Error {
  override readonly name = 'VerifyError';
  constructor(
    readonly status: 401 | 403 | 503,
    readonly code: 'invalid_token' | 'forbidden' | 'service_unavailable',
    readonly detail: string,
  ) {
    super(detail);
  }

  get problem(): Problem {
    const title = this.status === 401 ? 'Unauthorized' : this.status === 403 ? 'Forbidden' : 'Service Unavailable';
    return { type: `urn:gatehouse:problem:${this.code}`, title, status: this.status, detail: this.detail, code: this.code };
  }

  /** Headers of the refusal. */
  get headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/problem+json; charset=utf-8', 'cache-control': 'no-store' };
    if (this.status === 401) h['www-authenticate'] = `Bearer error="invalid_token", error_description="${this.detail.replace(/["\\]/g, '')}"`;
    if (this.status === 503) h['retry-after'] = '5';
    return h;
  }
}

export const invalidToken = (detail = 'The access token is not valid.') => new VerifyError(401, 'invalid_token', detail);
export const forbidden = (detail = 'The access token does not grant this.') => new VerifyError(403, 'forbidden', detail);
