/**
 * A real OpenID provider for the social-login tests (test-only module): the `oidc-provider`
 * package on a loopback port, one confidential client with PKCE required, accounts whose
 * email and email_verified the test chooses, and a programmatic login/consent step through
 * the provider's interaction API (instead of its HTML dev pages). `drive` follows the
 * browser's redirects through the provider, carrying its cookies, until it comes back to
 * Gatehouse.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface IdpAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export const CLIENT_ID = 'gatehouse-test';
export const CLIENT_SECRET = 'gatehouse-test-secret-value';
/** LINE's channel: its secret (>= 32 bytes, an HS256 key) signs the ID tokens. */
export const LINE_CHANNEL_ID = 'gatehouse-line-channel';
export const LINE_CHANNEL_SECRET = 'line-channel-secret-0123456789abcdef';
/** The Facebook app. */
export const FACEBOOK_APP_ID = 'gatehouse-facebook-app';
export const FACEBOOK_APP_SECRET = 'facebook-app-secret-value';
/** The resource (audience) of the Facebook stand-in's access tokens: its Graph API. */
const GRAPH_RESOURCE = 'urn:test:graph.facebook';

/**
 * Starts the provider; `redirectUris` are the Gatehouse callback URLs it accepts. Besides the
 * generic client it registers a LINE channel (ID tokens HS256-signed with the channel secret,
 * client_secret_post, scope claims in the ID token as LINE does) and a Facebook app (plain
 * OAuth 2.0: no openid scope, an opaque access token for the Graph resource, the profile at
 * `GET /v19.0/me?fields=id,name,email` answered from the provider's own access-token store).
 */
export async function startIdp(redirectUris: string[]) {
  const accounts = new Map<string, IdpAccount>();
  const behaviour: { account: string; deny: boolean; idToken?: (idToken: string) => Promise<string> } = { account: '', deny: false };
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'idp-test', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: LINE_CHANNEL_ID,
        client_secret: LINE_CHANNEL_SECRET,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'HS256',
      },
      {
        client_id: FACEBOOK_APP_ID,
        client_secret: FACEBOOK_APP_SECRET,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [jwk] },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
    scopes: ['openid', 'email', 'profile', 'public_profile'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    features: {
      devInteractions: { enabled: false },
      // Facebook's app gets tokens for its Graph API (a resource server), not for userinfo
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx: { oidc: { client?: { clientId: string } } }) => (ctx.oidc.client?.clientId === FACEBOOK_APP_ID ? GRAPH_RESOURCE : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== GRAPH_RESOURCE) throw new Error('unknown resource');
          return { scope: 'email public_profile', accessTokenFormat: 'opaque', audience: GRAPH_RESOURCE };
        },
      },
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: ['gatehouse-test-cookie-key'] },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...account }) };
    },
  });
  // the tests' man in the middle: rewrites the ID token of a token response (tampered, re-signed)
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: unknown } | undefined;
    if (ctx.path === '/token' && behaviour.idToken && body && typeof body.id_token === 'string') body.id_token = await behaviour.idToken(body.id_token);
  });
  const callback = provider.callback();

  // Facebook's Graph API `/v19.0/me?fields=id,name,email`, answered for the Graph resource's access tokens
  async function graphMe(req: http.IncomingMessage, res: http.ServerResponse) {
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const at = token ? await provider.AccessToken.find(token) : undefined;
    if (!at || at.aud !== GRAPH_RESOURCE) return json(401, { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } });
    const account = accounts.get(at.accountId);
    if (!account) return json(404, { error: { message: 'Unknown user', type: 'OAuthException', code: 803 } });
    const fields = (new URL(req.url ?? '/', issuer).searchParams.get('fields') ?? 'id,name').split(',');
    const scopes = String(at.scope ?? '').split(' ');
    const me: Record<string, string> = { id: at.accountId };
    if (fields.includes('name') && account.name) me.name = account.name;
    if (fields.includes('email') && scopes.includes('email') && account.email) me.email = account.email;
    json(200, me);
  }

  // The login and consent pages: answered programmatically with the account the test chose.
  async function interaction(req: http.IncomingMessage, res: http.ServerResponse) {
    const details = await provider.interactionDetails(req, res);
    if (behaviour.deny) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user said no' }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: behaviour.account } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  handler = (req, res) => {
    if (req.url?.startsWith('/v19.0/me')) {
      graphMe(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    callback(req, res);
  };

  return {
    issuer,
    accounts,
    behaviour,
    /**
     * Follows redirects from `url` through the provider like a browser, until a Location
     * leaves it; returns that URL (Gatehouse's callback).
     */
    async drive(url: string): Promise<URL> {
      const jar = new Map<string, string>();
      let next = new URL(url);
      for (let hop = 0; hop < 12; hop++) {
        const res = await fetch(next, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';');
          const i = pair!.indexOf('=');
          jar.set(pair!.slice(0, i), pair!.slice(i + 1));
        }
        const location = res.headers.get('location');
        if (!location) throw new Error(`the provider stopped at ${res.status}: ${(await res.text()).slice(0, 300)}`);
        next = new URL(location, next);
        if (next.origin !== issuer) return next;
      }
      throw new Error('too many redirects at the provider');
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
export type Idp = Awaited<ReturnType<typeof startIdp>>;

/**
 * A stand-in for GitHub's OAuth and REST endpoints (test-only): GitHub itself cannot be run
 * here, and its protocol differs from OIDC where it matters to the client (token errors with
 * status 200, emails from /user/emails). Checks the client secret, the redirect URI and PKCE
 * S256 like GitHub does.
 */
export async function startFakeGitHub(user: { id: number; login: string; name: string; email: string; verified: boolean }) {
  const { createHash } = await import('node:crypto');
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/login/oauth/authorize') {
      const code = `gh-${Math.random().toString(36).slice(2)}`;
      codes.set(code, { challenge: url.searchParams.get('code_challenge') ?? '', redirectUri: url.searchParams.get('redirect_uri') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let body = '';
      for await (const c of req) body += String(c);
      const form = new URLSearchParams(body);
      const expectedAuth = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
      const issued = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const ok =
        req.headers.authorization === expectedAuth &&
        issued !== undefined &&
        issued.redirectUri === form.get('redirect_uri') &&
        createHash('sha256').update(verifier).digest('base64url') === issued.challenge;
      // GitHub answers a bad code with status 200 and an error body
      json(200, ok ? { access_token: 'gho_test', token_type: 'bearer', scope: 'read:user,user:email' } : { error: 'bad_verification_code' });
      return;
    }
    if (req.headers.authorization !== 'Bearer gho_test') return json(401, { message: 'Bad credentials' });
    if (url.pathname === '/user') return json(200, { id: user.id, login: user.login, name: user.name });
    if (url.pathname === '/user/emails') return json(200, [{ email: `old-${user.email}`, primary: false, verified: true }, { email: user.email, primary: true, verified: user.verified }]);
    json(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
