/**
 * Route schemas compiled on first use (schema-compilers.ts): the deferred validators and
 * serializers behave as Fastify's eager ones (coercion of the root value, defaults, errors,
 * response filtering), and compileDeferredSchemas compiles what no request reached yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { bindDeferredSchemas, compileDeferredSchemas, deferredCompilers } from './schema-compilers';

const AJV = { customOptions: { removeAdditional: true, coerceTypes: 'array' as const, useDefaults: true, allErrors: false } };

function app() {
  const deferred = deferredCompilers();
  // no automatic HEAD routes: they would be two more routes with the same schemas
  const a = Fastify({ exposeHeadRoutes: false, ajv: AJV, schemaController: { compilersFactory: deferred.compilersFactory } });
  bindDeferredSchemas(a, deferred);
  return a;
}

test('deferred validators coerce, fill defaults and report errors as the eager ones do', async () => {
  const a = app();
  a.get(
    '/q',
    {
      schema: {
        querystring: { type: 'object', properties: { n: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } }, d: { type: 'string', default: 'x' } }, required: ['n'] },
        response: { 200: { type: 'object', properties: { n: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } }, d: { type: 'string' } } } },
      },
    },
    async (req) => ({ ...(req.query as object), secret: 'not in the schema' }),
  );
  a.post('/b', { schema: { body: { type: 'object', properties: { name: { type: 'string', minLength: 2 } }, required: ['name'], additionalProperties: false } } }, async (req) => req.body);
  await a.ready();
  // nothing compiled before the first request
  const ok = await a.inject({ method: 'GET', url: '/q?n=5&tags=a' });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { n: 5, tags: ['a'], d: 'x' });
  const bad = await a.inject({ method: 'GET', url: '/q?n=five' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /querystring\/n must be integer/);
  const missing = await a.inject({ method: 'POST', url: '/b', payload: { name: 'a' } });
  assert.equal(missing.statusCode, 400);
  assert.match(missing.json().message, /body\/name must NOT have fewer than 2 characters/);
  const stripped = await a.inject({ method: 'POST', url: '/b', payload: { name: 'ab', extra: 1 } });
  assert.deepEqual(stripped.json(), { name: 'ab' });
  assert.equal(compileDeferredSchemas(a), 0, 'every schema of both routes was compiled by its requests');
  await a.close();
});

test('compileDeferredSchemas compiles what no request reached, and a schema that cannot compile throws there', async () => {
  const a = app();
  a.get('/one', { schema: { params: { type: 'object', properties: {} }, response: { 200: { type: 'string' } } } }, async () => 'x');
  await a.ready();
  assert.equal(compileDeferredSchemas(a), 2);
  assert.equal(compileDeferredSchemas(a), 0);
  await a.close();

  const broken = app();
  broken.get('/broken', { schema: { querystring: { type: 'object', properties: { n: { type: 'no-such-type' } } } } }, async () => 'x');
  await broken.ready();
  assert.throws(() => compileDeferredSchemas(broken), /type/);
  await broken.close();
});

test('a headers schema must name its headers in lower case (Fastify lower-cases them only for its own compiler)', async () => {
  const a = app();
  a.get('/h', { schema: { headers: { type: 'object', properties: { 'X-Thing': { type: 'string' } } } } }, async () => 'x');
  await assert.rejects(async () => {
    await a.ready();
  }, /header schema property "X-Thing" must be lower-case/);
  const b = app();
  b.get('/h', { schema: { headers: { type: 'object', properties: { 'x-thing': { type: 'string', minLength: 3 } }, required: ['x-thing'] } } }, async () => 'x');
  await b.ready();
  assert.equal((await b.inject({ method: 'GET', url: '/h', headers: { 'X-Thing': 'abc' } })).statusCode, 200);
  assert.equal((await b.inject({ method: 'GET', url: '/h', headers: { 'X-Thing': 'a' } })).statusCode, 400);
  await b.close();
});
