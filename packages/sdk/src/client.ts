/**
 * The Gatehouse client: the typed API (openapi-fetch over the generated `paths`) behind one
 * fetch wrapper that does what hand-written clients get wrong:
 *
 * - **refresh-token rotation, single flight**: the access token is refreshed shortly before it
 *   expires, or after a 401 to a request that carried it; however many calls need a refresh at
 *   once, one `POST /api/v1/auth/refresh` goes out and every call waits for it (a refresh token
 *   is single use: sending it twice revokes the session). A 401 whose request carried a token
 *   that was already replaced is retried with the new token, not refreshed again. In a browser
 *   the refresh also holds a Web Lock, so two tabs never send the same cookie at once.
 * - **cookie mode** (browsers): sign-in and refresh use `?mode=cookie`: the refresh token lives
 *   only in the HttpOnly cookie the auth service sets, the access token only in memory.
 * - **errors**: every non-2xx answer is thrown as a {@link GatehouseError} (problem+json: `code`,
 *   `status`, `detail`, …); no answer at all is `status` 0, `network_error`.
 * - **429**: retried after `Retry-After` (seconds or a date), up to `retry.maxRetries` times and
 *   never longer than `retry.maxDelayMs` per wait; then thrown with `retryAfter` set.
 *
 * Hand-written around openapi-fetch (not a middleware) because a retry needs the request again:
 * the body is read once and each attempt is a fresh Request with the current token.
 */
import createClient, { type Client } from 'openapi-fetch';
import { GatehouseError, retryAfterMs } from './errors.js';
import type { paths } from './schema.js';

type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : never;
type LoginAnswer = JsonOf<paths['/api/v1/auth/login']['post']['responses'][200]>;

/** The signed-in user (`GET /api/v1/auth/me`). */
export type User = JsonOf<paths['/api/v1/auth/me']['get']['responses'][200]>;
/** What a sign-in, registration or refresh answers with. */
export type TokenResponse = Extract<LoginAnswer, { accessToken: string }>;
/** A sign-in that needs a second step (`POST /api/v1/auth/login/mfa`). */
export type MfaChallenge = Exclude<LoginAnswer, { accessToken: string }>;
export type LoginBody = paths['/api/v1/auth/login']['post']['requestBody']['content']['application/json'];
export type RegisterBody = paths['/api/v1/auth/register']['post']['requestBody']['content']['application/json'];
export type LoginMfaBody = paths['/api/v1/auth/login/mfa']['post']['requestBody']['content']['application/json'];

/** The session's tokens; `refreshToken` is absent in cookie mode. `expiresAt`: epoch ms of the access token. */
export interface Tokens {
  accessToken: string;
  refreshToken?: string;
  expiresAt: number;
}

/** Why the session changed. */
export type SessionChange = 'signed-in' | 'refreshed' | 'signed-out' | 'expired' | 'set';

export interface GatehouseClientOptions {
  /** the gateway's URL, e.g. `https://acme.id.example.com` (the host names the tenant); in a browser on the same origin, `location.origin` */
  baseUrl: string;
  /** `token` (default): tokens in memory, refresh token in the body. `cookie` (browsers): the refresh token only in the HttpOnly cookie */
  mode?: 'token' | 'cookie';
  /** sent as `X-Tenant` (honoured where the gateway allows the header, e.g. on localhost); normally the host names the tenant */
  tenant?: string;
  /** a session to resume (token mode); `expiresAt` is read from the token when omitted */
  tokens?: { accessToken: string; refreshToken?: string; expiresAt?: number };
  /** called after every change of the session: store `tokens` to resume later (token mode) */
  onChange?: (tokens: Tokens | undefined, reason: SessionChange) => void;
  /** the fetch to use (default globalThis.fetch); each call is one HTTP request */
  fetch?: (input: Request) => Promise<Response>;
  /** 429 handling: retries (default 3), the longest wait accepted (default 60000 ms), the wait without Retry-After (default 1000 ms, doubling) */
  retry?: { maxRetries?: number; maxDelayMs?: number; defaultDelayMs?: number };
  /** refresh this long before the access token expires (default 10000 ms) */
  refreshEarlyMs?: number;
  /** headers sent with every request */
  headers?: Record<string, string>;
  /** fetch credentials (default `include` in cookie mode, else the fetch default) */
  credentials?: 'include' | 'same-origin' | 'omit';
}

/** Paths that never carry the access token (sign-in steps, refresh, recovery, JWKS). */
const PUBLIC_PATH = /\/api\/v1\/auth\/(register|login|refresh|password\/(forgot|reset)|email\/verify|passkeys\/login|oauth)(\/|$)|\/\.well-known\//;

interface LockManager {
  request<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The `exp` claim of a JWT in epoch ms (not verified: only to schedule a refresh), or undefined. */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class GatehouseClient {
  /** The typed API (openapi-fetch): `await gh.api.GET('/api/v1/users/me')`. Non-2xx answers throw {@link GatehouseError}. */
  readonly api: Client<paths>;
  readonly mode: 'token' | 'cookie';
  private readonly baseUrl: string;
  private readonly fetchImpl: (input: Request) => Promise<Response>;
  private readonly opts: GatehouseClientOptions;
  private state: Tokens | undefined;
  private currentUser: User | undefined;
  private refreshing: Promise<Tokens> | undefined;
  private readonly listeners = new Set<(tokens: Tokens | undefined, reason: SessionChange) => void>();

  constructor(opts: GatehouseClientOptions) {
    this.opts = opts;
    this.mode = opts.mode ?? 'token';
    this.baseUrl = opts.baseUrl.replace(/\/$/, '');
    this.fetchImpl = opts.fetch ?? ((req) => globalThis.fetch(req));
    if (opts.onChange) this.listeners.add(opts.onChange);
    if (opts.tokens) this.setTokens(opts.tokens, false);
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: (req) => this.send(req) });
  }

  /** The current tokens (undefined: signed out). */
  get tokens(): Tokens | undefined {
    return this.state;
  }

  /** The user of the last sign-in or refresh (or `me()`). */
  get user(): User | undefined {
    return this.currentUser;
  }

  /** Calls `fn` after every session change; returns the unsubscribe function. */
  onChange(fn: (tokens: Tokens | undefined, reason: SessionChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resumes (or replaces) a session from stored tokens; undefined forgets it locally. */
  setTokens(tokens: { accessToken: string; refreshToken?: string; expiresAt?: number } | undefined, notify = true): void {
    this.state = tokens
      ? {
          accessToken: tokens.accessToken,
          refreshToken: this.mode === 'cookie' ? undefined : tokens.refreshToken,
          expiresAt: tokens.expiresAt ?? tokenExpiry(tokens.accessToken) ?? Date.now() + 60_000,
        }
      : undefined;
    if (!tokens) this.currentUser = undefined;
    if (notify) this.emit('set');
  }

  /**
   * fetch() for any path of the API, with the token, refresh, 429 retries and errors of the
   * typed client: `await gh.fetch('/api/v1/users/me/avatar', { method: 'PUT', body: form })`.
   */
  fetch(pathOrUrl: string, init?: RequestInit): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
    return this.send(new Request(url, init));
  }

  /** Creates the account; signs in when the answer carries tokens. */
  async register(body: RegisterBody): Promise<TokenResponse> {
    const { data } = await this.api.POST('/api/v1/auth/register', { body, params: { query: this.modeQuery() } });
    const tokens = data as unknown as TokenResponse;
    if (tokens?.accessToken) this.applyTokens(tokens, 'signed-in');
    return tokens;
  }

  /** Email or username and password: signed in (TokenResponse), or the second step's challenge. */
  async login(body: LoginBody): Promise<TokenResponse | MfaChallenge> {
    const { data } = await this.api.POST('/api/v1/auth/login', { body, params: { query: this.modeQuery() } });
    const answer = data as LoginAnswer;
    if ('accessToken' in answer) this.applyTokens(answer, 'signed-in');
    return answer;
  }

  /** Completes a sign-in with a TOTP or backup code. */
  async loginMfa(body: LoginMfaBody): Promise<TokenResponse> {
    const { data } = await this.api.POST('/api/v1/auth/login/mfa', { body, params: { query: this.modeQuery() } });
    const tokens = data as unknown as TokenResponse;
    this.applyTokens(tokens, 'signed-in');
    return tokens;
  }

  /** The signed-in user. */
  async me(): Promise<User> {
    const { data } = await this.api.GET('/api/v1/auth/me');
    this.currentUser = data as User;
    return this.currentUser;
  }

  /**
   * Rotates the refresh token (token mode: the one held; cookie mode: the cookie) and takes the
   * new access token. Single flight: concurrent callers share one request. A 401 ends the session.
   */
  refresh(): Promise<Tokens> {
    this.refreshing ??= this.withLock(() => this.doRefresh()).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Cookie mode, on page load: the session back from the cookie. Resolves to the user, or undefined when there is none. */
  async restore(): Promise<User | undefined> {
    try {
      await this.refresh();
      return this.currentUser;
    } catch (err) {
      if (err instanceof GatehouseError && err.status > 0 && err.status < 500) return undefined;
      throw err;
    }
  }

  /** Signs this session out (the server revokes it at once), then forgets it. */
  async logout(): Promise<void> {
    try {
      if (this.state) {
        const body = this.mode === 'token' && this.state.refreshToken ? { refreshToken: this.state.refreshToken } : {};
        await this.api.POST('/api/v1/auth/logout', { body });
      }
    } finally {
      this.drop('signed-out');
    }
  }

  /** Signs out every session of the user. */
  async logoutAll(): Promise<void> {
    await this.api.POST('/api/v1/auth/logout-all', { body: {} });
    this.drop('signed-out');
  }

  // ---- internals ----------------------------------------------------------------------------

  private modeQuery(): { mode: 'cookie' } | undefined {
    return this.mode === 'cookie' ? { mode: 'cookie' } : undefined;
  }

  private emit(reason: SessionChange): void {
    for (const fn of this.listeners) fn(this.state, reason);
  }

  private applyTokens(body: TokenResponse, reason: SessionChange): void {
    this.state = {
      accessToken: body.accessToken,
      refreshToken: this.mode === 'cookie' ? undefined : (body.refreshToken ?? this.state?.refreshToken),
      expiresAt: Date.now() + body.expiresIn * 1000,
    };
    this.currentUser = body.user as User;
    this.emit(reason);
  }

  private drop(reason: SessionChange): void {
    const had = this.state !== undefined;
    this.state = undefined;
    this.currentUser = undefined;
    if (had || reason === 'expired') this.emit(reason);
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (this.mode === 'cookie' && locks?.request) return locks.request('gatehouse-refresh', fn);
    return fn();
  }

  private async doRefresh(): Promise<Tokens> {
    const cookie = this.mode === 'cookie';
    const refreshToken = this.state?.refreshToken;
    if (!cookie && !refreshToken) {
      this.drop('expired');
      throw new GatehouseError(401, { code: 'invalid_token', detail: 'No refresh token: sign in again.' });
    }
    const req = new Request(`${this.baseUrl}/api/v1/auth/refresh${cookie ? '?mode=cookie' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(cookie ? {} : { refreshToken }),
    });
    try {
      const res = await this.send(req, false);
      this.applyTokens((await res.json()) as TokenResponse, 'refreshed');
      return this.state as Tokens;
    } catch (err) {
      if (err instanceof GatehouseError && (err.status === 401 || err.status === 403 || err.status === 404)) this.drop('expired');
      throw err;
    }
  }

  /** The access token to send: refreshed first when it expires within `refreshEarlyMs`. */
  private async accessToken(): Promise<string | undefined> {
    if (!this.state) return undefined;
    if (Date.now() >= this.state.expiresAt - (this.opts.refreshEarlyMs ?? 10_000)) await this.refresh();
    return this.state?.accessToken;
  }

  /** Sends `input` (once, or again after a refresh or a 429); throws GatehouseError for non-2xx. */
  private async send(input: Request, withAuth?: boolean): Promise<Response> {
    const auth = withAuth ?? !PUBLIC_PATH.test(new URL(input.url).pathname);
    const body = input.method === 'GET' || input.method === 'HEAD' ? undefined : await input.arrayBuffer();
    const maxRetries = this.opts.retry?.maxRetries ?? 3;
    const maxDelayMs = this.opts.retry?.maxDelayMs ?? 60_000;
    const defaultDelayMs = this.opts.retry?.defaultDelayMs ?? 1000;
    const credentials = this.opts.credentials ?? (this.mode === 'cookie' ? 'include' : undefined);
    let refreshed = false;
    for (let retries = 0; ; ) {
      const token = auth ? await this.accessToken() : undefined;
      const headers = new Headers(input.headers);
      for (const [k, v] of Object.entries(this.opts.headers ?? {})) if (!headers.has(k)) headers.set(k, v);
      if (this.opts.tenant && !headers.has('x-tenant')) headers.set('x-tenant', this.opts.tenant);
      if (token) headers.set('authorization', `Bearer ${token}`);
      let res: Response;
      try {
        res = await this.fetchImpl(
          new Request(input.url, { method: input.method, headers, body, signal: input.signal, redirect: input.redirect, ...(credentials ? { credentials } : {}) }),
        );
      } catch (err) {
        if (input.signal?.aborted) throw err;
        throw new GatehouseError(0, { code: 'network_error', detail: 'The server could not be reached.' }, { cause: err });
      }
      if (res.status === 401 && token && !refreshed) {
        refreshed = true;
        await res.body?.cancel().catch(() => {});
        // refresh only when nobody replaced the token this request carried meanwhile
        if (this.state?.accessToken === token) await this.refresh();
        if (this.state) continue;
        throw new GatehouseError(401, { code: 'invalid_token', detail: 'The session has ended: sign in again.' });
      }
      if (res.status === 429 && retries < maxRetries) {
        const wait = retryAfterMs(res.headers.get('retry-after')) ?? defaultDelayMs * 2 ** retries;
        if (wait <= maxDelayMs) {
          retries++;
          await res.body?.cancel().catch(() => {});
          await sleep(wait, input.signal);
          continue;
        }
      }
      if (!res.ok) throw await GatehouseError.fromResponse(res);
      return res;
    }
  }
}

/** Creates a client; see {@link GatehouseClient}. */
export function createGatehouseClient(opts: GatehouseClientOptions): GatehouseClient {
  return new GatehouseClient(opts);
}
