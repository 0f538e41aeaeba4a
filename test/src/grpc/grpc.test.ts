/**
 * The internal gRPC API (docs/grpc.md) against the started system, with a client of another
 * implementation: @grpc/grpc-js, the repository's .proto files loaded by @grpc/proto-loader.
 * Callers are m2m applications of a tenant holding `gatehouse:internal` for
 * `urn:gatehouse:internal`, their tokens from the tenant issuer's `client_credentials` grant
 * (openid-client, as the OIDC suites do).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as client from 'openid-client';
import { BASE_DOMAIN, PASSWORD, startTestSystem, uniqueEmail, type Account, type TenantInfo, type TestSystem } from '../system';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { TokenService } from '@gatehouse/contracts/gen/gatehouse/auth/v1/auth_pb';
import { discover } from '../oidc/fixtures';

const PROTO_DIR = path.resolve(import.meta.dirname, '../../../packages/contracts/proto');
const AUD = 'urn:gatehouse:internal';
const SCOPE = 'gatehouse:internal';

const definition = protoLoader.loadSync(
  ['gatehouse/auth/v1/auth.proto', 'gatehouse/audit/v1/audit.proto', 'grpc/health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'],
  { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true },
);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- proto-loader's package tree is untyped
const proto = grpc.loadPackageDefinition(definition) as any;

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: never) => void) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are proto-loader plain objects
type Answer = any;

/** A unary call as a promise, with `authorization: Bearer <token>` when given. */
function unary(stub: grpc.Client, method: string, req: object, token?: string): Promise<Answer> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    ((stub as unknown as Record<string, Unary>)[method]!).call(stub, req, md, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function refusedWith(p: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => assert.fail(`expected ${grpc.status[code]}`),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, code, `${grpc.status[err.code]}: ${err.details}`);
  return err;
}

describe('internal gRPC API (grpc-js client, the repository .proto files)', { timeout: 120_000 }, () => {
  let s: TestSystem;
  let a: TenantInfo & { admin?: Account };
  let b: TenantInfo & { admin?: Account };
  let address: string;
  let tokenA: string;
  let tokenB: string;
  let noScopeToken: string;
  let ada: Account;
  let bob: Account;
  const stubs: grpc.Client[] = [];
  const stub = <T extends grpc.Client>(ctor: new (address: string, creds: grpc.ChannelCredentials) => T): T => {
    const c = new ctor(address, grpc.credentials.createInsecure());
    stubs.push(c);
    return c;
  };

  /** An m2m application of `tenant` for the internal resource; its client_credentials token. */
  async function machineToken(tenant: TenantInfo & { admin?: Account }, scopes: string[], withResource: boolean): Promise<string> {
    const token = tenant.admin!.accessToken;
    if (withResource) {
      const res = await s.request('POST', '/api/v1/admin/resources', {
        tenant: tenant.slug,
        token,
        body: { name: 'Gatehouse internal gRPC', audience: AUD, scopes: [{ name: SCOPE }, { name: 'reports:read' }] },
      });
      assert.equal(res.status, 201, res.text);
    }
    const app = await s.request('POST', '/api/v1/admin/applications', { tenant: tenant.slug, token, body: { name: `worker ${scopes.join(' ')}`, type: 'm2m', resources: [AUD], scopes } });
    assert.equal(app.status, 201, app.text);
    const config = await discover(s, tenant.slug, app.body.clientId, app.body.clientSecret);
    return (await client.clientCredentialsGrant(config, { scope: scopes.join(' '), resource: AUD })).access_token;
  }

  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    assert.ok(s.grpcUrl, 'the system serves gRPC');
    address = new URL(s.grpcUrl).host;
    [a, b] = await Promise.all([s.createTenant(), s.createTenant()]);
    tokenA = await machineToken(a, [SCOPE], true);
    noScopeToken = await machineToken(a, ['reports:read'], false);
    tokenB = await machineToken(b, [SCOPE], true);
    [ada, bob] = await Promise.all([s.register({ tenant: a.slug, email: uniqueEmail('ada') }), s.register({ tenant: b.slug, email: uniqueEmail('bob') })]);
  });

  after(async () => {
    for (const c of stubs) c.close();
    await s?.close();
  });

  test('health: SERVING for the server and for each service; an unknown service is NOT_FOUND', async () => {
    const health = stub(proto.grpc.health.v1.Health);
    assert.equal((await unary(health, 'Check', { service: '' })).status, 'SERVING');
    for (const name of ['gatehouse.auth.v1.TokenService', 'gatehouse.auth.v1.UserDirectory', 'gatehouse.audit.v1.AuditService']) {
      assert.equal((await unary(health, 'Check', { service: name })).status, 'SERVING', name);
    }
    await refusedWith(unary(health, 'Check', { service: 'no.such.Service' }), grpc.status.NOT_FOUND);
  });

  test('reflection (v1) lists the services and serves their file descriptors', async () => {
    const reflection = stub(proto.grpc.reflection.v1.ServerReflection);
    const call = (reflection as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, Answer> }).ServerReflectionInfo();
    const answers: Answer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (d: Answer) => answers.push(d));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ listServices: '' });
    call.write({ fileContainingSymbol: 'gatehouse.auth.v1.TokenService' });
    call.write({ fileContainingSymbol: 'no.such.Symbol' });
    call.end();
    await done;
    assert.equal(answers.length, 3);
    const names = (answers[0].listServicesResponse.service as Array<{ name: string }>).map((x) => x.name);
    for (const name of ['gatehouse.auth.v1.TokenService', 'gatehouse.auth.v1.UserDirectory', 'gatehouse.audit.v1.AuditService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
    const files = answers[1].fileDescriptorResponse.fileDescriptorProto as Buffer[];
    assert.ok(files.length >= 2, 'auth.proto and google/protobuf/timestamp.proto');
    assert.ok(files.some((f) => f.includes('gatehouse/auth/v1/auth.proto')));
    assert.equal(answers[2].errorResponse.errorCode, grpc.status.NOT_FOUND);
  });

  test('reflection v1alpha (older grpcurl and tools) answers the same', async () => {
    const reflection = stub(proto.grpc.reflection.v1alpha.ServerReflection);
    const call = (reflection as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, Answer> }).ServerReflectionInfo();
    const answers: Answer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (d: Answer) => answers.push(d));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ listServices: '*' });
    call.write({ fileByFilename: 'gatehouse/audit/v1/audit.proto' });
    call.end();
    await done;
    const names = (answers[0].listServicesResponse.service as Array<{ name: string }>).map((x) => x.name);
    assert.ok(names.includes('gatehouse.audit.v1.AuditService'), names.join(', '));
    const files = answers[1].fileDescriptorResponse.fileDescriptorProto as Buffer[];
    assert.ok(files.some((f) => f.includes('google/protobuf/struct.proto')), 'the file and its imports');
  });

  test('calls without a token, with a malformed or a user token, or without the scope are refused', async () => {
    const tokens = stub(proto.gatehouse.auth.v1.TokenService);
    await refusedWith(unary(tokens, 'Introspect', { token: ada.accessToken }), grpc.status.UNAUTHENTICATED);
    await refusedWith(unary(tokens, 'Introspect', { token: ada.accessToken }, 'not-a-jwt'), grpc.status.UNAUTHENTICATED);
    // a valid Gatehouse user access token is not a machine token for the internal audience
    await refusedWith(unary(tokens, 'Introspect', { token: ada.accessToken }, ada.accessToken), grpc.status.PERMISSION_DENIED);
    await refusedWith(unary(tokens, 'Introspect', { token: ada.accessToken }, noScopeToken), grpc.status.PERMISSION_DENIED);
    const directory = stub(proto.gatehouse.auth.v1.UserDirectory);
    await refusedWith(unary(directory, 'GetUser', { id: ada.id }), grpc.status.UNAUTHENTICATED);
    const audit = stub(proto.gatehouse.audit.v1.AuditService);
    await refusedWith(unary(audit, 'List', {}, ada.accessToken), grpc.status.PERMISSION_DENIED);
  });

  test('Introspect: valid, expired, another tenant\'s, then revoked within 1 s of logout', async (t) => {
    const tokens = stub(proto.gatehouse.auth.v1.TokenService);
    const valid = await unary(tokens, 'Introspect', { token: ada.accessToken }, tokenA);
    assert.equal(valid.active, true);
    assert.equal(valid.sub, ada.id);
    assert.equal(valid.tid, a.id);
    assert.ok(valid.sid);
    assert.ok((valid.roles as string[]).includes('user'));
    assert.ok(Number(valid.exp) > Date.now() / 1000);

    // a real token of the real key, issued an hour ago for a minute
    const keys = s.services.auth.deps.keys;
    const expired = await keys.sign({ sub: ada.id, tid: a.id, sid: valid.sid, roles: ['user'], amr: ['pwd'], issuedAtMs: Date.now() - 3_600_000 }, 60);
    assert.deepEqual(await unary(tokens, 'Introspect', { token: expired.token }, tokenA), { active: false, sub: '', tid: '', sid: '', roles: [], permissions: [], exp: '0' });
    // signed by the real key, unexpired, but for a session the store does not have
    const unknownSession = await keys.sign({ sub: ada.id, tid: a.id, sid: '00000000-0000-4000-8000-000000000000', roles: ['user'], amr: ['pwd'] }, 60);
    assert.equal((await unary(tokens, 'Introspect', { token: unknownSession.token }, tokenA)).active, false);

    // tenant B's user, asked by tenant A's application: not active for A; B's application sees it
    assert.equal((await unary(tokens, 'Introspect', { token: bob.accessToken }, tokenA)).active, false);
    assert.equal((await unary(tokens, 'Introspect', { token: bob.accessToken }, tokenB)).active, true);
    assert.equal((await unary(tokens, 'Introspect', { token: ada.accessToken }, tokenB)).active, false);
    assert.equal((await unary(tokens, 'Introspect', { token: 'garbage' }, tokenA)).active, false);

    // a session of its own (ada's other tests keep theirs)
    const session = await s.login(ada.email, PASSWORD, { tenant: a.slug });
    assert.equal((await unary(tokens, 'Introspect', { token: session.accessToken }, tokenA)).active, true);
    const out = await s.request('POST', '/api/v1/auth/logout', { tenant: a.slug, token: session.accessToken });
    assert.ok(out.status < 300, out.text);
    const loggedOut = performance.now();
    let active = true;
    while (active && performance.now() - loggedOut < 5_000) active = (await unary(tokens, 'Introspect', { token: session.accessToken }, tokenA)).active;
    const took = performance.now() - loggedOut;
    assert.equal(active, false, 'inactive after logout');
    t.diagnostic(`inactive ${took.toFixed(1)} ms after the logout answered`);
    assert.ok(took < 1_000, `inactive ${took.toFixed(0)} ms after logout`);
  });

  test('the same port speaks gRPC-Web and the Connect protocol (Connect-ES clients, HTTP/2)', async () => {
    for (const transport of [createGrpcWebTransport({ baseUrl: s.grpcUrl!, httpVersion: '2' }), createConnectTransport({ baseUrl: s.grpcUrl!, httpVersion: '2' })]) {
      const tokens = createClient(TokenService, transport);
      const res = await tokens.introspect({ token: ada.accessToken }, { headers: { authorization: `Bearer ${tokenA}` } });
      assert.equal(res.active, true);
      assert.equal(res.sub, ada.id);
      await assert.rejects(tokens.introspect({ token: ada.accessToken }), (err: { code?: number }) => err.code === 16);
    }
  });

  test('UserDirectory: GetUser and ListUsers of the caller\'s tenant, paged', async () => {
    const directory = stub(proto.gatehouse.auth.v1.UserDirectory);
    const got = await unary(directory, 'GetUser', { id: ada.id }, tokenA);
    assert.equal(got.user.id, ada.id);
    assert.equal(got.user.email, ada.email);
    assert.equal(got.user.tenantId, a.id);
    assert.ok(got.user.createTime.seconds > 0);
    // another tenant's user is not found from A, and a bad id is INVALID_ARGUMENT
    await refusedWith(unary(directory, 'GetUser', { id: bob.id }, tokenA), grpc.status.NOT_FOUND);
    await refusedWith(unary(directory, 'GetUser', { id: 'nope' }, tokenA), grpc.status.INVALID_ARGUMENT);

    const found = await unary(directory, 'ListUsers', { query: ada.email }, tokenA);
    assert.deepEqual((found.users as Array<{ id: string }>).map((u) => u.id), [ada.id]);
    const first = await unary(directory, 'ListUsers', { pageSize: 1 }, tokenA);
    assert.equal(first.users.length, 1);
    assert.ok(first.nextPageToken, 'tenant A has its admin and ada');
    const second = await unary(directory, 'ListUsers', { pageSize: 1, pageToken: first.nextPageToken }, tokenA);
    assert.equal(second.users.length, 1);
    assert.notEqual(second.users[0].id, first.users[0].id);
    const all = await unary(directory, 'ListUsers', { pageSize: 200 }, tokenA);
    assert.ok((all.users as Array<{ tenantId: string }>).every((u) => u.tenantId === a.id));
    await refusedWith(unary(directory, 'ListUsers', { pageToken: '!!bad' }, tokenA), grpc.status.INVALID_ARGUMENT);
  });

  test('AuditService: Record a social entry, List it; tenants do not see each other\'s', async () => {
    const audit = stub(proto.gatehouse.audit.v1.AuditService);
    const recorded = await unary(audit, 'Record', { type: 'post.liked', actorId: ada.id, targetId: 'post-1', data: { fields: { stars: { numberValue: 5 } } } }, tokenA);
    assert.equal(recorded.entry.type, 'social.events.post.liked');
    assert.equal(recorded.entry.actorId, ada.id);
    assert.equal(recorded.entry.targetId, 'post-1');
    assert.equal(recorded.entry.data.fields.stars.numberValue, 5);
    assert.match(recorded.entry.hash, /^[0-9a-f]{64}$/);

    const listed = await unary(audit, 'List', { type: 'post.liked', actorId: ada.id }, tokenA);
    assert.deepEqual((listed.entries as Array<{ id: string }>).map((e) => e.id), [recorded.entry.id]);
    assert.equal((await unary(audit, 'List', { type: 'post.liked' }, tokenB)).entries.length, 0);
    // the HTTP API sees the same entry
    const http = await s.request('GET', `/api/v1/social-logs?actorId=${ada.id}`, { tenant: a.slug, token: a.admin!.accessToken });
    assert.equal(http.status, 200, http.text);
    assert.ok((http.body.items as Array<{ id: string }>).some((e) => e.id === recorded.entry.id));

    await refusedWith(unary(audit, 'Record', { type: 'Not A Type', actorId: ada.id }, tokenA), grpc.status.INVALID_ARGUMENT);
    await refusedWith(unary(audit, 'Record', { type: 'post.liked' }, tokenA), grpc.status.INVALID_ARGUMENT);

    // the audit service stopped inside the process: UNAVAILABLE; restarted: answered by the new instance
    await s.stopBackend('audit');
    await refusedWith(unary(audit, 'List', {}, tokenA), grpc.status.UNAVAILABLE);
    await s.startBackend('audit');
    assert.ok((await unary(audit, 'List', { actorId: ada.id }, tokenA)).entries.some((e: { id: string }) => e.id === recorded.entry.id));
  });
});
