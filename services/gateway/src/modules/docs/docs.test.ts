import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../../testing/fixtures';
import { mergeOpenApi } from './docs.service';

const problem = { type: 'object', properties: { code: { type: 'string' } } };

const authDoc = {
  openapi: '3.1.0',
  info: { title: 'auth', version: '1' },
  tags: [{ name: 'auth' }],
  paths: {
    '/api/v1/auth/login': { post: { tags: ['auth'], responses: { 401: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } } } } } },
    '/api/v1/admin/tenants/{id}': { get: { responses: { 200: { description: 'ok' } } } },
    '/.well-known/jwks.json': { get: { responses: { 200: { description: 'ok' } } } },
    '/internal/tenants/resolve': { get: { responses: { 200: { description: 'secret' } } } },
    '/api/v1/users/me': { get: { responses: { 200: { description: 'not auth, dropped' } } } },
  },
  components: { schemas: { Problem: problem, Session: { type: 'object' } }, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
};
const usersDoc = {
  openapi: '3.1.0',
  info: { title: 'users', version: '1' },
  tags: [{ name: 'users' }, { name: 'auth' }],
  paths: {
    '/api/v1/users/me': { get: { responses: { 200: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Session' } } } } } } },
    '/api/v1/events/{id}/check-ins': { post: { responses: { 201: { description: 'ok' } } } },
  },
  // Same Problem (kept once); a different Session (renamed users_Session, references too).
  components: { schemas: { Problem: problem, Session: { type: 'string' } }, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
};

describe('docs: merged OpenAPI', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({ env: { PUBLIC_URL: 'https://id.example.test' }, openapi: { auth: authDoc, users: usersDoc } });
  });
  after(async () => {
    await s.close();
  });

  test('GET /openapi.json merges the services: public paths only, components, tags, servers', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: 'https://id.example.test' }]);
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/.well-known/jwks.json',
      '/api/v1/admin/tenants/{id}',
      '/api/v1/auth/login',
      '/api/v1/events/{id}/check-ins',
      '/api/v1/users/me',
    ]);
    assert.equal(doc.paths['/api/v1/users/me'].get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/users_Session');
    assert.deepEqual(doc.components.schemas.Session, { type: 'object' });
    assert.deepEqual(doc.components.schemas.users_Session, { type: 'string' });
    // normalized (docs.openapi.ts): the platform's Problem schema, error bodies as problem+json by $ref
    assert.equal(doc.components.schemas.Problem.description, 'RFC 9457 problem details');
    assert.deepEqual(doc.paths['/api/v1/auth/login'].post.responses['401'].content, {
      'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
    });
    assert.equal(doc.paths['/api/v1/auth/login'].post.operationId, 'postAuthLogin');
    assert.equal(doc.paths['/api/v1/admin/tenants/{id}'].get.operationId, 'getAdminTenantsById');
    assert.deepEqual(doc.paths['/.well-known/jwks.json'].get.security, []);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    assert.deepEqual(doc.tags.map((t: { name: string }) => t.name), ['auth', 'users']);
  });

  test('GET /docs renders Swagger UI from local assets, fed the merged document', async () => {
    const page = await s.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.doesNotMatch(page.body, /https?:\/\//, 'no asset from another host');
    const bundle = await s.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(bundle.statusCode, 200);
    assert.ok(bundle.body.length > 100_000);
    const json = await s.app.inject({ method: 'GET', url: '/docs/json' });
    assert.ok(json.json().paths['/api/v1/auth/login']);
  });
});

describe('docs: a service that is down', () => {
  test('the document is served without it, and completed once it answers', async () => {
    const s = await startStack({ openapi: { auth: authDoc, users: usersDoc } });
    try {
      s.auth.setDown(true);
      const partial = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      assert.ok(partial.paths['/api/v1/events/{id}/check-ins']);
      assert.equal(partial.paths['/api/v1/auth/login'], undefined);
      s.auth.setDown(false);
      // The failed part is retried after 5 s; the document stays usable meanwhile.
      const again = await s.app.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(again.statusCode, 200);
    } finally {
      await s.close();
    }
  });

  test('mergeOpenApi with nothing is still a valid skeleton', () => {
    const doc = mergeOpenApi([], 'http://localhost:3000');
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.paths, {});
  });
});
