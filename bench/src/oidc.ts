/**
 * The OpenID provider's throughput (issue 11): token endpoint `client_credentials` per second
 * (a JWT access token for an API resource, client_secret_basic), and authorization-code
 * cycles per second (authorize with the provider session of a signed-in user, first-party
 * application so no page, then the code + PKCE exchange at the token endpoint), compared with
 * the plain `/api/v1/auth/login` and `/api/v1/auth/refresh` of the same run.
 * `BENCH_ONLY=oidc npm run bench` runs only this (`results/<date>-<mode>-oidc.*`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { fmt, freePort, http, load, loop, spawnNode, type LoadResult } from './lib';

export interface OidcFigures {
  clientCredentials: LoadResult;
  codeCycles: LoadResult;
  login: LoadResult;
  refresh: LoadResult;
}

const AUD = 'https://api.bench.test/orders';

/** Runs the measurements on a fresh `gatehouse start`; `env` as the bench's, `admin` its superadmin. */
export async function measureOidc(env: Record<string, string | undefined>, seconds: number, admin: { email: string; password: string }): Promise<OidcFigures> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnNode('cli/src/main.ts', ['start'], { ...env, PORT: String(port), PUBLIC_URL: base, METRICS_PORT: '0', LOG_LEVEL: 'warn' });
  const api = http(base);
  try {
    await child.ready(base);
    const root = await api.json('POST', '/api/v1/auth/login', admin);
    const bearer = { authorization: `Bearer ${root.body.accessToken}` };
    const res = await api.json('POST', '/api/v1/admin/resources', { name: 'Orders', audience: AUD, scopes: [{ name: 'orders:read' }] }, bearer);
    if (res.status !== 201) throw new Error(`resource: ${res.status} ${JSON.stringify(res.body)}`);
    const m2m = (await api.json('POST', '/api/v1/admin/applications', { name: 'bench m2m', type: 'm2m', resources: [AUD] }, bearer)).body;
    const web = (await api.json('POST', '/api/v1/admin/applications', { name: 'bench web', type: 'web', firstParty: true, redirectUris: ['https://app.bench.test/cb'] }, bearer)).body;
    const password = 'bench password that is long enough';
    const email = `bench-oidc-${Date.now()}@example.com`;
    const user = (await api.json('POST', '/api/v1/auth/register', { email, password })).body;

    // client_credentials: one fixed request
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(m2m.clientId)}:${encodeURIComponent(m2m.clientSecret)}`).toString('base64')}`;
    await load({ url: `${base}/oidc/token`, method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&resource=${encodeURIComponent(AUD)}&scope=orders%3Aread`, connections: 8, seconds: 2 });
    const clientCredentials = await load({
      url: `${base}/oidc/token`,
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&resource=${encodeURIComponent(AUD)}&scope=orders%3Aread`,
      connections: 8,
      seconds,
    });
    console.log(`oidc client_credentials: ${fmt(clientCredentials.rps)}/s p99 ${clientCredentials.p99} ms (non-2xx ${clientCredentials.non2xx})`);

    // a provider session for the user, through the hosted-login endpoint the console calls
    const jar = new Map<string, string>();
    const go = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
      const r = await request(`${base}${path}`, { method: method as 'GET', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...headers }, body });
      const set = r.headers['set-cookie'];
      for (const c of Array.isArray(set) ? set : set ? [set] : []) {
        const [pair] = c.split(';');
        const i = pair!.indexOf('=');
        jar.set(pair!.slice(0, i), pair!.slice(i + 1));
      }
      const text = await r.body.text();
      return { status: r.statusCode, location: typeof r.headers.location === 'string' ? new URL(r.headers.location, base) : undefined, text };
    };
    const authorizePath = (challenge: string) =>
      `/oidc/auth?${new URLSearchParams({ client_id: web.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://app.bench.test/cb', code_challenge: challenge, code_challenge_method: 'S256', state: 's' })}`;
    const pkce = () => {
      const verifier = randomBytes(32).toString('base64url');
      return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
    };
    let step = (await go('GET', authorizePath(pkce().challenge))).location!;
    for (let hop = 0; hop < 6 && step.origin === base; hop++) {
      const m = /^\/oidc\/interaction\/([^/]+)$/.exec(step.pathname);
      if (m) {
        const r = await go('POST', `/oidc/interaction/${m[1]}/login`, { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' }, '{}');
        step = new URL(JSON.parse(r.text).redirectTo);
      } else step = (await go('GET', `${step.pathname}${step.search}`)).location!;
    }
    if (!step.searchParams.get('code')) throw new Error(`no code after sign-in: ${step.href}`);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const webBasic = `Basic ${Buffer.from(`${encodeURIComponent(web.clientId)}:${encodeURIComponent(web.clientSecret)}`).toString('base64')}`;
    const cycle = async () => {
      const { verifier, challenge } = pkce();
      const a = await request(`${base}${authorizePath(challenge)}`, { headers: { cookie } });
      await a.body.dump();
      const code = typeof a.headers.location === 'string' ? new URL(a.headers.location).searchParams.get('code') : null;
      if (!code) return false;
      const t = await request(`${base}/oidc/token`, {
        method: 'POST',
        headers: { authorization: webBasic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'https://app.bench.test/cb', code_verifier: verifier }).toString(),
      });
      await t.body.dump();
      return t.statusCode === 200;
    };
    await loop(8, 2, cycle);
    const codeCycles = await loop(8, seconds, cycle);
    console.log(`oidc authorize + code exchange: ${fmt(codeCycles.rps)}/s p99 ${fmt(codeCycles.p99, 1)} ms (failed ${codeCycles.non2xx})`);

    // the plain REST figures of the same process
    const login = await load({ url: `${base}/api/v1/auth/login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }), connections: 8, seconds });
    console.log(`login: ${fmt(login.rps)}/s p99 ${login.p99} ms`);
    const chains: string[] = [];
    for (let i = 0; i < 8; i++) chains.push((await api.json('POST', '/api/v1/auth/login', { email, password })).body.refreshToken);
    const refresh = await loop(8, seconds, async (w) => {
      const r = await request(`${base}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: chains[w] }) });
      const body = (await r.body.json()) as { refreshToken?: string };
      if (r.statusCode !== 200 || !body.refreshToken) return false;
      chains[w] = body.refreshToken;
      return true;
    });
    console.log(`refresh: ${fmt(refresh.rps)}/s p99 ${fmt(refresh.p99, 1)} ms`);
    return { clientCredentials, codeCycles, login, refresh };
  } finally {
    await api.close();
    await child.stop();
  }
}

/** The markdown section of the results. */
export function oidcMarkdown(f: OidcFigures): string {
  const row = (label: string, x: LoadResult) => `| ${label} | ${x.connections} | ${fmt(x.rps)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${x.non2xx} |`;
  return `## OpenID provider

| operation | concurrency | per second | p50 ms | p99 ms | failed |
|---|---|---|---|---|---|
${row('`client_credentials` at /oidc/token (JWT access token for a resource)', f.clientCredentials)}
${row('authorize (provider session, no page) + code exchange with PKCE', f.codeCycles)}
${row('`POST /api/v1/auth/login` (argon2id)', f.login)}
${row('`POST /api/v1/auth/refresh` (rotation chains)', f.refresh)}
`;
}
