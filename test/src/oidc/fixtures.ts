/**
 * Helpers of the OpenID provider suites (test-only): openid-client pointed at a tenant's
 * issuer (`https://<slug>.gatehouse.test/oidc`) while the requests really go to the test
 * system's gateway on loopback (the Host header names the tenant), and a small browser
 * stand-in (cookie jar, manual redirects) that walks the hosted login through the real HTTP
 * endpoints the console uses.
 */
import { request as undiciRequest } from 'undici';
import * as client from 'openid-client';
import type { TestSystem } from '../system';

/** fetch for openid-client: any URL of the deployment is sent to the gateway with its host. */
export function fetchVia(gatewayUrl: string, extra: Record<string, string> = {}): client.CustomFetch {
  return async (url, options) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    new Headers(options.headers).forEach((v, k) => (headers[k] = v));
    headers.host = target.host;
    Object.assign(headers, extra);
    const res = await undiciRequest(`${gatewayUrl}${target.pathname}${target.search}`, {
      method: options.method as 'GET',
      headers,
      body: options.body == null ? undefined : typeof options.body === 'string' ? options.body : String(options.body),
    });
    const body = await res.body.arrayBuffer();
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    return new Response(res.statusCode === 204 || res.statusCode === 304 ? null : body, { status: res.statusCode, headers: h });
  };
}

/** The tenant's issuer as the provider names it. */
export function issuerOf(s: TestSystem, slug: string): string {
  return `https://${slug}.${s.baseDomain}/oidc`;
}

/** openid-client's configuration for one client of one tenant (discovery through the gateway). */
export async function discover(s: TestSystem, slug: string, clientId: string, secret?: string, metadata: Partial<client.ClientMetadata> = {}, via?: client.CustomFetch) {
  const fetchImpl = via ?? fetchVia(s.url);
  const auth = secret ? client.ClientSecretBasic(secret) : client.None();
  const config = await client.discovery(new URL(issuerOf(s, slug)), clientId, { ...metadata }, auth, {
    execute: [client.allowInsecureRequests],
    [client.customFetch]: fetchImpl,
  });
  config[client.customFetch] = fetchImpl;
  return config;
}

/** A browser stand-in: cookies by name, redirects followed by hand, through the gateway. */
export function browser(s: TestSystem, slug: string) {
  return browserAt(s.url, `${slug}.${s.baseDomain}`);
}

/**
 * The browser stand-in against any base URL: requests for `host` go to `baseUrl` (the gateway,
 * or an auth service process reached directly, with `extra` headers such as the tenant ones
 * the gateway would add).
 */
export function browserAt(baseUrl: string, host: string, extra: Record<string, string> = {}) {
  const jar = new Map<string, string>();
  async function go(method: string, url: string, o: { token?: string; body?: unknown } = {}) {
    const u = new URL(url, `https://${host}`);
    const headers: Record<string, string> = { ...extra, host: u.host, cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    const res = await undiciRequest(`${baseUrl}${u.pathname}${u.search}`, { method: method as 'GET', headers, body });
    const setCookie = res.headers['set-cookie'];
    for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    const text = await res.body.text();
    const location = res.headers.location;
    return { status: res.statusCode, location: typeof location === 'string' ? new URL(location, u).href : undefined, text, json: () => JSON.parse(text) as Record<string, unknown> };
  }

  return {
    jar,
    go,
    /** Follows redirects from `url` until one leaves the deployment or lands on an interaction; returns that URL. */
    async follow(url: string): Promise<string> {
      let next = url;
      for (let hop = 0; hop < 10; hop++) {
        const r = await go('GET', next);
        if (!r.location) throw new Error(`stopped at ${r.status} on ${next}: ${r.text.slice(0, 300)}`);
        const loc = new URL(r.location);
        if (loc.host !== host || loc.pathname.startsWith('/oidc/interaction/')) return loc.href;
        next = loc.href;
      }
      throw new Error('too many redirects');
    },
    /**
     * The hosted login as the console does it: details, then login (and consent when asked)
     * with the user's Gatehouse access token. Returns the URL the browser lands on at the application.
     */
    async signIn(authorizationUrl: string, accessToken: string, o: { consent?: boolean } = {}): Promise<string> {
      let at = await this.follow(authorizationUrl);
      for (let step = 0; step < 4; step++) {
        const m = /\/oidc\/interaction\/([^/?#]+)/.exec(new URL(at).pathname);
        if (!m) return at;
        const uid = m[1]!;
        const page = await go('GET', at);
        if (page.status !== 303 || !page.location?.endsWith(`${host}/#/oidc?uid=${uid}`)) throw new Error(`interaction page: ${page.status} ${page.location}`);
        const details = await go('GET', `/oidc/interaction/${uid}/details`);
        if (details.status !== 200) throw new Error(`details: ${details.status} ${details.text}`);
        const prompt = details.json().prompt;
        if (prompt === 'consent' && o.consent === false) {
          const r = await go('POST', `/oidc/interaction/${uid}/abort`, { body: {} });
          at = await this.follow(String(r.json().redirectTo));
          continue;
        }
        const r = await go('POST', `/oidc/interaction/${uid}/${prompt === 'login' ? 'login' : 'consent'}`, { token: accessToken, body: {} });
        if (r.status !== 200) throw new Error(`${String(prompt)}: ${r.status} ${r.text}`);
        at = await this.follow(String(r.json().redirectTo));
      }
      return at;
    },
  };
}
