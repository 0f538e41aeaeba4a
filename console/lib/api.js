/**
 * The console's API client and session, browser mode: the refresh token lives only in the
 * HttpOnly cookie the auth service sets on `?mode=cookie`; the access token lives in this
 * module's memory only (never localStorage), so a script injected into the page could not
 * carry off a long-lived credential, and a reload restores the session through the cookie.
 */

const AUTH = '/api/v1/auth';
/** Not a secret: only "a sign-in happened here", so a fresh visit does not ask for a refresh that must fail. */
const HINT_KEY = 'gatehouse.session';
/** Refresh this long before the access token expires, so requests do not run into a 401. */
const EARLY_MS = 30_000;

/** A failed API call: the problem+json fields (RFC 9457) the services answer with. */
export class ApiError extends Error {
  constructor(status, problem = {}, headers) {
    super(problem.detail || problem.title || `The request failed (${status}).`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code ?? 'http_error';
    this.detail = problem.detail || problem.title || this.message;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.requestId = problem.requestId;
    const retry = Number(headers?.get('retry-after'));
    this.retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  }
}

/** Reads a failed response as an ApiError, whatever its body. */
async function toError(res) {
  let problem = {};
  const type = res.headers.get('content-type') ?? '';
  if (/json/.test(type)) problem = await res.json().catch(() => ({}));
  else await res.body?.cancel();
  const err = new ApiError(res.status, problem, res.headers);
  if (res.status === 429 && err.retryAfter) err.detail = `${err.detail} Try again in ${err.retryAfter} s.`;
  return err;
}

/** fetch(), with "the network failed" as an ApiError people can read (status 0). */
async function send(url, init) {
  try {
    return await fetch(url, { credentials: 'same-origin', ...init });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, { code: 'network_error', detail: 'The server could not be reached. Check your connection and try again.' });
  }
}

let accessToken = null;
let expiresAt = 0;
let user = null;
const listeners = new Set();
// Other tabs of the console: a sign-out in one ends the session shown in all.
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('gatehouse-console') : null;

function emit(reason) {
  for (const fn of listeners) fn(user, reason);
}

function setHint(on) {
  try {
    if (on) localStorage.setItem(HINT_KEY, '1');
    else localStorage.removeItem(HINT_KEY);
  } catch {
    // storage may be off (privacy mode); the hint only saves a request
  }
}

function hasHint() {
  try {
    return localStorage.getItem(HINT_KEY) === '1';
  } catch {
    return true;
  }
}

/** Takes a TokenResponse: the access token into memory. A refresh token in the body is never kept. */
function applyTokens(body) {
  accessToken = body.accessToken;
  expiresAt = Date.now() + body.expiresIn * 1000;
  user = body.user;
  setHint(true);
  emit('signed-in');
}

/** Forgets the session in this tab; `broadcast` tells the other tabs too. */
function dropSession(reason, broadcast = true) {
  const had = accessToken !== null || user !== null;
  accessToken = null;
  expiresAt = 0;
  user = null;
  setHint(false);
  if (broadcast) channel?.postMessage({ type: 'signed-out' });
  if (had || reason === 'expired') emit(reason);
}

channel?.addEventListener('message', (event) => {
  if (event.data?.type === 'signed-out') dropSession('elsewhere', false);
});

/** The session as the page sees it. */
export const session = {
  /** the signed-in User (API.md), or null */
  get user() {
    return user;
  },
  get signedIn() {
    return accessToken !== null;
  },
  /** Calls `fn(user, reason)` on sign-in, refresh and sign-out; returns the unsubscribe function. */
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  /** Updates the cached user (after /me answered). */
  setUser(next) {
    user = next;
  },
};

/** Role check with the API's hierarchy: superadmin > admin > organizer > user. */
export function hasRole(role) {
  const have = new Set(user?.roles ?? []);
  if (have.has('superadmin')) have.add('admin');
  if (have.has('admin')) have.add('organizer');
  have.add('user');
  return user !== null && have.has(role);
}

/**
 * Runs `fn` holding a lock shared by every tab of this origin (Web Locks). Refresh tokens are
 * single use and a reused one revokes the whole session, so two tabs must never send the same
 * cookie at once: inside the lock each refresh sends the cookie the previous one set.
 */
async function withRefreshLock(fn) {
  if (navigator.locks?.request) return navigator.locks.request('gatehouse-refresh', fn);
  return fn();
}

let refreshing = null;
/** One refresh at a time in this tab (and, through the lock, across tabs). Rejects with an ApiError. */
function refresh() {
  refreshing ??= withRefreshLock(async () => {
    const res = await send(`${AUTH}/refresh?mode=cookie`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    });
    if (!res.ok) {
      const err = await toError(res);
      if (res.status === 401 || res.status === 404) dropSession('expired');
      throw err;
    }
    applyTokens(await res.json());
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** On page load: the session back from the refresh cookie, if there is one. Resolves to the user or null. */
export async function restoreSession() {
  if (!hasHint()) return null;
  try {
    await refresh();
    return user;
  } catch (err) {
    // no session (or it ended): the sign-in screen; anything else (network, 5xx) too, but said
    if (!(err instanceof ApiError) || err.status >= 500) console.warn('session could not be restored:', err.message);
    return null;
  }
}

/**
 * Calls the API. `body` is sent as JSON, `form` as multipart (FormData), `headers` added. With `auth` (the
 * default) the access token goes along, is refreshed first when about to expire, and a 401 is
 * retried once after a refresh. Answers: parsed JSON, null for 204, or the Response with `raw`.
 * Throws ApiError for every non-2xx answer.
 */
export async function api(method, path, { body, form, auth = true, accept = 'application/json', raw = false, signal, headers: extra } = {}) {
  const once = () => {
    const headers = { accept, ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && accessToken) headers.authorization = `Bearer ${accessToken}`;
    return send(path, { method, headers, body: form ?? (body !== undefined ? JSON.stringify(body) : undefined), signal });
  };
  if (auth) {
    if (!accessToken) throw new ApiError(401, { code: 'invalid_token', detail: 'You are signed out. Sign in again.' });
    if (Date.now() > expiresAt - EARLY_MS) await refresh();
  }
  let res = await once();
  if (res.status === 401 && auth) {
    await res.body?.cancel();
    await refresh();
    res = await once();
  }
  if (!res.ok) throw await toError(res);
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') ?? '';
  return /json/.test(type) ? res.json() : res.text();
}

/** The answer of a sign-in step: tokens (now in memory and cookie) or a second-factor challenge. */
function signedInOr(body) {
  if (body && body.accessToken) {
    applyTokens(body);
    return { signedIn: true, user };
  }
  return body;
}

/** Email or username and password. Resolves to `{ signedIn, user }` or the MFA challenge `{ mfaRequired, mfaToken, methods, enrollmentRequired }`. */
export async function login(identifier, password) {
  const who = identifier.includes('@') ? { email: identifier.trim() } : { username: identifier.trim() };
  return signedInOr(await api('POST', `${AUTH}/login?mode=cookie`, { auth: false, body: { ...who, password } }));
}

/** Completes a sign-in with a TOTP code or a backup code. */
export async function loginMfa(mfaToken, { code, backupCode }) {
  const body = code ? { mfaToken, code: code.replace(/\s+/g, '') } : { mfaToken, backupCode };
  return signedInOr(await api('POST', `${AUTH}/login/mfa?mode=cookie`, { auth: false, body }));
}

/** Exchanges the one-time code a social sign-in returned with (`/oauth-callback?code=`). */
export async function exchangeOAuthCode(code) {
  return signedInOr(await api('POST', `${AUTH}/oauth/exchange?mode=cookie`, { auth: false, body: { code } }));
}

/** Creates the account and signs in. */
export async function register(fields) {
  return signedInOr(await api('POST', `${AUTH}/register?mode=cookie`, { auth: false, body: fields }));
}

/**
 * An enrollment that completed a sign-in answers tokens in its body (the confirm route has no
 * cookie mode); one refresh in cookie mode moves the session into the cookie at once, so the
 * refresh token does not stay in page memory.
 */
export async function adoptTokens(tokens) {
  const res = await send(`${AUTH}/refresh?mode=cookie`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ refreshToken: tokens.refreshToken }),
  });
  if (!res.ok) throw await toError(res);
  applyTokens(await res.json());
  return user;
}

/**
 * Signs in with a passkey (WebAuthn, discoverable credential) where the browser can: returns
 * false when it cannot (no WebAuthn JSON helpers), else signs in or throws.
 */
export async function loginWithPasskey() {
  const PKC = globalThis.PublicKeyCredential;
  if (!PKC?.parseRequestOptionsFromJSON) return false;
  const options = await api('POST', `${AUTH}/passkeys/login/options`, { auth: false, body: {} });
  const credential = await navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(options) });
  if (!credential) throw new ApiError(400, { detail: 'No passkey was chosen.' });
  signedInOr(await api('POST', `${AUTH}/passkeys/login/verify?mode=cookie`, { auth: false, body: { response: credential.toJSON() } }));
  return true;
}

/** Signs out this session (server first, then memory); the cookie is cleared by the answer. */
export async function logout() {
  try {
    if (accessToken) await api('POST', `${AUTH}/logout`, { body: {} });
    else await send(`${AUTH}/logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  } finally {
    dropSession('signed-out');
  }
}

/** Signs out every session of the user. */
export async function logoutEverywhere() {
  await api('POST', `${AUTH}/logout-all`, { body: {} });
  dropSession('signed-out');
}

/**
 * Forgets the session in this page and the other tabs without asking the server: for when the
 * server has already ended it (a password reset ends every session).
 */
export function forgetSession() {
  dropSession('signed-out');
}
