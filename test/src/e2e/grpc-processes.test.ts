/**
 * Issue 16: each service run alone (`services/<name>/src/main.ts`) serves its own gRPC API on
 * its GRPC_PORT (docs/grpc.md): auth its TokenService and UserDirectory, audit its
 * AuditService, each with health and reflection; calls without a token are refused. A grpc-js
 * client with the repository's .proto files. (The calls themselves: test/src/grpc.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { processStackMissing, startProcessStack, type ProcessStack } from './stack-processes';

const PROTO_DIR = path.resolve(import.meta.dirname, '../../../packages/contracts/proto');
const definition = protoLoader.loadSync(['gatehouse/auth/v1/auth.proto', 'gatehouse/audit/v1/audit.proto', 'grpc/health/v1/health.proto', 'grpc/reflection/v1/reflection.proto'], {
  includeDirs: [PROTO_DIR],
  enums: String,
  defaults: true,
  oneofs: true,
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- proto-loader's package tree is untyped
const proto = grpc.loadPackageDefinition(definition) as any;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are proto-loader plain objects
function unary(stub: any, method: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => stub[method](req, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));
}

async function services(address: string): Promise<string[]> {
  const stub = new proto.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  try {
    const call = stub.ServerReflectionInfo();
    const answer = new Promise<string[]>((resolve, reject) => {
      call.on('data', (d: { listServicesResponse: { service: Array<{ name: string }> } }) => resolve(d.listServicesResponse.service.map((x) => x.name)));
      call.on('error', reject);
    });
    call.write({ listServices: '' });
    const names = await answer;
    call.end();
    return names;
  } finally {
    stub.close();
  }
}

describe('e2e: each process serves its gRPC API on its GRPC_PORT', { skip: processStackMissing(), timeout: 240_000 }, () => {
  let stack: ProcessStack;
  before(async () => {
    stack = await startProcessStack();
  });
  after(async () => {
    await stack?.close();
  });

  test('auth and audit: health SERVING, reflection lists their own services, no token: UNAUTHENTICATED', async () => {
    const expected = { auth: ['gatehouse.auth.v1.TokenService', 'gatehouse.auth.v1.UserDirectory'], audit: ['gatehouse.audit.v1.AuditService'] };
    for (const [name, own] of Object.entries(expected) as Array<['auth' | 'audit', string[]]>) {
      const address = stack.grpcAddresses[name];
      const health = new proto.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
      try {
        assert.equal((await unary(health, 'Check', { service: '' })).status, 'SERVING', name);
        for (const svc of own) assert.equal((await unary(health, 'Check', { service: svc })).status, 'SERVING', `${name} ${svc}`);
      } finally {
        health.close();
      }
      const listed = await services(address);
      for (const svc of own) assert.ok(listed.includes(svc), `${name} lists ${svc}: ${listed.join(', ')}`);
      const other = name === 'auth' ? expected.audit : expected.auth;
      for (const svc of other) assert.ok(!listed.includes(svc), `${name} does not serve ${svc}`);
    }
    const tokens = new proto.gatehouse.auth.v1.TokenService(stack.grpcAddresses.auth, grpc.credentials.createInsecure());
    const audit = new proto.gatehouse.audit.v1.AuditService(stack.grpcAddresses.audit, grpc.credentials.createInsecure());
    try {
      await assert.rejects(unary(tokens, 'Introspect', { token: 'x' }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      await assert.rejects(unary(audit, 'List', {}), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
    } finally {
      tokens.close();
      audit.close();
    }
  });
});
