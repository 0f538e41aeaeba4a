/**
 * The console's API client and session, on @gatehouse/sdk in cookie mode (its browser build,
 * ./gatehouse-sdk.js, generated from packages/sdk: `node packages/sdk/scripts/browser.mjs
 * console/lib/gatehouse-sdk.js`; a test fails while it is stale). The refresh token lives only in
 * the HttpOnly cookie the auth service sets on `?mode=cookie`; the access token lives in the
 * SDK's memory only (never localStorage), so a script injected into the page could not carry
 * off a long-lived credential, and a reload restores the session through the cookie. The SDK
 * does the single-flight refresh (with a Web Lock across tabs), the problem+json errors and
 * the 429 retries; this module keeps the console's session view and its helpers.
 */
import { createGatehouseClient, GatehouseError } from './gatehouse-sdk.js';

const AUTH = '/api/v1/auth';
/** Not a secret: only "a sign-in happened here", so a fresh visit does not ask for a refresh that must fail. */
const HINT_KEY = 'gatehouse.session';
/** Refresh this long before the access token expires, so requests do not run into a 401. */
const EARLY_MS = 30_000;

/** A failed API call: the SDK's GatehouseError (status, code, detail, errors, requestId, retryAfter). */
export const ApiError = GatehouseError;

const client = createGatehouseClient({
  baseUrl: location.origin,
  mode: 'cookie',
  credentials: 'same-origin',
  refreshEarlyMs: EARLY_MS,
  // a short wait is retried without a word; a longer one is shown ("Try again in … s")
  retry: { maxRetries: 2, maxDelayMs: 5000 },
});

let user = null;
const listeners = new Set();
// Other tabs of the console: a sign-out in one ends the session shown in all.
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('gatehouse-console') : null;
let fromOtherTab = false;

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

client.onChange((tokens, change) => {
  if (change === 'set' && tokens) return;
  let reason = change === 'refreshed' ? 'signed-in' : change;
  if (tokens) {
    user = client.user ?? user;
    setHint(true);
  } else {
    user = null;
    setHint(false);
    if (fromOtherTab) reason = 'elsewhere';
    else if (reason === 'signed-out') channel?.postMessage({ type: 'signed-out' });
  }
  for (const fn of listeners) fn(user, reason);
});

channel?.addEventListener('message', (event) => {
  if (event.data?.type !== 'signed-out') return;
  fromOtherTab = true;
  try {
    client.forget('signed-out');
  } finally {
    fromOtherTab = false;
  }
});

/** Adds "Try again in N s." to a rate-limit error people read. */
function explain(err) {
  if (err instanceof GatehouseError && err.status === 429 && err.retryAfter) err.detail = `${err.detail} Try again in ${Math.ceil(err.retryAfter)} s.`;
  return err;
}

/** The session as the page sees it. */
export const session = {
  /** the signed-in User (API.md), or null */
  get user() {
    return user;
  },
  get signedIn() {
    return client.tokens !== undefined;
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

/** On page load: the session back from the refresh cookie, if there is one. Resolves to the user or null. */
export async function restoreSession() {
  if (!hasHint()) return null;
  try {
    await client.refresh();
    return user;
  } catch (err) {
    // no session (or it ended): the sign-in screen; anything else (network, 5xx) too, but said
    if (!(err instanceof ApiError) || err.status >= 500 || err.status === 0) console.warn('session could not be restored:', err.message);
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
  if (auth && !client.tokens) throw new ApiError(401, { code: 'invalid_token', detail: 'You are signed out. Sign in again.' });
  const headers = { accept, ...extra };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await client.fetch(path, { method, headers, body: form ?? (body !== undefined ? JSON.stringify(body) : undefined), signal }, { auth });
  } catch (err) {
    throw explain(err);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') ?? '';
  return /json/.test(type) ? res.json() : res.text();
}

/** The answer of a sign-in step: tokens (now in memory and cookie) or a second-factor challenge. */
function signedInOr(answer) {
  if (answer && answer.accessToken) return { signedIn: true, user };
  return answer;
}

async function step(fn) {
  try {
    return signedInOr(await fn());
  } catch (err) {
    throw explain(err);
  }
}

/** Email or username and password. Resolves to `{ signedIn, user }` or the MFA challenge `{ mfaRequired, mfaToken, methods, enrollmentRequired }`. */
export async function login(identifier, password) {
  const who = identifier.includes('@') ? { email: identifier.trim() } : { username: identifier.trim() };
  return step(() => client.login({ ...who, password }));
}

/** Completes a sign-in with a TOTP code or a backup code. */
export async function loginMfa(mfaToken, { code, backupCode }) {
  const body = code ? { mfaToken, code: code.replace(/\s+/g, '') } : { mfaToken, backupCode };
  return step(() => client.loginMfa(body));
}

/** Exchanges the one-time code a social sign-in returned with (`/oauth-callback?code=`). */
export async function exchangeOAuthCode(code) {
  const answer = await api('POST', `${AUTH}/oauth/exchange?mode=cookie`, { auth: false, body: { code } });
  // tokens (not the MFA challenge): the session takes them, as after a passkey sign-in
  if (answer?.accessToken) return step(() => client.adopt(answer));
  return answer;
}

/** Creates the account and signs in. */
export async function register(fields) {
  return step(() => client.register(fields));
}

/**
 * An enrollment that completed a sign-in answers tokens in its body (the confirm route has no
 * cookie mode); the SDK moves the session into the cookie at once (one refresh in cookie
 * mode), so the refresh token does not stay in page memory.
 */
export async function adoptTokens(tokens) {
  await step(() => client.adopt(tokens));
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
  const tokens = await api('POST', `${AUTH}/passkeys/login/verify?mode=cookie`, { auth: false, body: { response: credential.toJSON() } });
  await step(() => client.adopt(tokens));
  return true;
}

/** Signs out this session (server first, then memory); the cookie is cleared by the answer. */
export async function logout() {
  if (client.tokens) {
    await client.logout().catch((err) => {
      throw explain(err);
    });
    return;
  }
  try {
    await client.fetch(`${AUTH}/logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, { auth: false });
  } finally {
    client.forget('signed-out');
  }
}

/** Signs out every session of the user. */
export async function logoutEverywhere() {
  await client.logoutAll().catch((err) => {
    throw explain(err);
  });
}

/**
 * Forgets the session in this page and the other tabs without asking the server: for when the
 * server has already ended it (a password reset ends every session).
 */
export function forgetSession() {
  client.forget('signed-out');
}
