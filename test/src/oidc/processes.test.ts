/**
 * Revocation reaches the applications across OS processes (issue 11, "also across two
 * processes sharing Redis"): two auth service processes (`services/auth/src/main.ts`, each
 * with its own PORT, METRICS_PORT and GRPC_PORT) share one PostgreSQL database, the run's
 * Redis and NATS (a stream and subject prefix of their own). A grant is made through process
 * 1 (hosted login, code + PKCE, openid-client), the user signs out of Gatehouse through
 * process 2; then, at process 1, the application's refresh token fails and introspection
 * answers inactive within 1 s. Both processes are reached directly, with the tenant headers
 * the gateway would add.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import * as client from 'openid-client';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { createTestDatabase, testServers } from '@gatehouse/platform/testing';
import { call } from '../client';
import { freePort } from '../e2e/nats-server';
import { spawnService, type ServiceProcess } from '../e2e/processes';
import { browserAt, fetchVia } from './fixtures';

const HOST = 'gatehouse.e2e';
const ISSUER = `http://${HOST}/oidc`;
const CALLBACK = 'https://app.example.test/callback';
/** what the gateway adds in front of the auth service: the resolved tenant, the original scheme */
const GATEWAY_HEADERS = { [TENANT_HEADER]: DEFAULT_TENANT_ID, 'x-forwarded-proto': 'http', 'x-forwarded-host': HOST };

const skip = !testServers.databaseUrl || !testServers.redisUrl || !testServers.natsUrl ? 'needs the run\'s PostgreSQL, Redis and NATS (TEST_DATABASE_URL, TEST_REDIS_URL, TEST_NATS_URL): the two processes share them' : undefined;

describe('OpenID provider: two auth OS processes sharing PostgreSQL, Redis and NATS', { skip }, () => {
  const prefix = `ghoidc${randomBytes(4).toString('hex')}`;
  const admin = { email: `admin-${prefix}@example.test`, password: 'correct horse battery staple admin' };
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  const started: ServiceProcess[] = [];

  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'gh-oidc-proc-'));
    const common = {
      GATEHOUSE_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      REDIS_URL: testServers.redisUrl,
      NATS_URL: testServers.natsUrl,
      NATS_STREAM: prefix.toUpperCase(),
      NATS_SUBJECT_PREFIX: prefix,
      DATA_DIR: dataDir,
      PUBLIC_URL: `http://${HOST}`,
      TOKEN_ISSUER: 'http://gatehouse.e2e',
      TOKEN_AUDIENCE: 'gatehouse',
      RATE_LIMIT_IP_MAX: '0',
      RATE_LIMIT_USER_MAX: '0',
      RATE_LIMIT_CREDENTIALS_MAX: '0',
      SHUTDOWN_DRAIN_SEC: '0',
    };
    const spawn = async (extra: Record<string, string> = {}) => {
      const p = await spawnService('auth', await freePort(), { ...common, ...extra, METRICS_PORT: String(await freePort()), GRPC_PORT: String(await freePort()) });
      started.push(p);
      return p;
    };
    // the first migrates and creates the tenant's admin; the second joins the same database
    await spawn({ GATEHOUSE_ADMIN_EMAIL: admin.email, GATEHOUSE_ADMIN_PASSWORD: admin.password });
    await spawn();
  });
  after(async () => {
    for (const p of started.reverse()) await p.stop();
    const nc = await connect({ servers: testServers.natsUrl, timeout: 2000 }).catch(() => undefined);
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(prefix.toUpperCase()).catch(() => false);
      await nc.close();
    }
    await db?.drop().catch(() => {});
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('a grant made through process 1, a sign-out through process 2: at process 1 the refresh token fails and introspection is inactive within 1 s', async () => {
    const [one, two] = started as [ServiceProcess, ServiceProcess];
    const req = (p: ServiceProcess, method: string, route: string, o: { token?: string; body?: unknown } = {}) => call(p.url, method, route, { ...o, host: HOST, headers: GATEWAY_HEADERS });
    const adminLogin = await req(one, 'POST', '/api/v1/auth/login', { body: { email: admin.email, password: admin.password } });
    assert.equal(adminLogin.status, 200, adminLogin.text);
    const app = await req(one, 'POST', '/api/v1/admin/applications', { token: adminLogin.body.accessToken, body: { name: 'Shop', type: 'web', redirectUris: [CALLBACK] } });
    assert.equal(app.status, 201, app.text);
    const email = `ada-${prefix}@example.test`;
    const password = 'correct horse battery staple ada';
    assert.equal((await req(two, 'POST', '/api/v1/auth/register', { body: { email, password } })).status, 201);
    const ada = await req(one, 'POST', '/api/v1/auth/login', { body: { email, password } });
    assert.equal(ada.status, 200, ada.text);

    // openid-client as the application, talking to process 1 only
    const via = fetchVia(one.url, GATEWAY_HEADERS);
    const first = await client.discovery(new URL(ISSUER), app.body.clientId, app.body.clientSecret, undefined, { execute: [client.allowInsecureRequests], [client.customFetch]: via });
    first[client.customFetch] = via;

    // the grant: hosted login and consent through process 1, code exchanged there
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(first, {
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const landed = await browserAt(one.url, HOST, GATEWAY_HEADERS).signIn(url.href, ada.body.accessToken);
    const tokens = await client.authorizationCodeGrant(first, new URL(landed), { pkceCodeVerifier: verifier, expectedState: 'st' });
    assert.ok(tokens.refresh_token);
    assert.equal((await client.tokenIntrospection(first, tokens.access_token)).active, true);
    // a refresh at process 1 works before the sign-out (rotation: keep the new one)
    const rotated = await client.refreshTokenGrant(first, tokens.refresh_token);

    // the sign-out, through the other process
    const out = await req(two, 'POST', '/api/v1/auth/logout-all', { token: ada.body.accessToken, body: {} });
    assert.equal(out.status, 204, out.text);
    const signedOutAt = Date.now();

    // at process 1: introspection inactive, then the refresh token refused, both within 1 s
    let inactiveAfter: number | undefined;
    for (;;) {
      const active = (await client.tokenIntrospection(first, rotated.access_token)).active;
      if (!active) {
        inactiveAfter = Date.now() - signedOutAt;
        break;
      }
      if (Date.now() - signedOutAt > 1000) break;
      await sleep(20);
    }
    assert.ok(inactiveAfter !== undefined && inactiveAfter <= 1000, `introspection at process 1 still active ${Date.now() - signedOutAt} ms after the sign-out at process 2`);
    await assert.rejects(client.refreshTokenGrant(first, rotated.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
    assert.ok(Date.now() - signedOutAt <= 1000, `the refresh was refused ${Date.now() - signedOutAt} ms after the sign-out`);
    process.stdout.write(`# two processes: introspection inactive ${inactiveAfter} ms after the sign-out, refresh refused by ${Date.now() - signedOutAt} ms\n`);
  });
});
