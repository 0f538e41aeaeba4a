/**
 * Every route schema of every app compiles (issue 13): the apps compile their validators and
 * serializers on a route's first request (packages/platform/src/schema-compilers.ts), so a
 * schema that cannot compile would otherwise only show as a 500 of that route. Compiles all of
 * them in the whole system, as Fastify did at start before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeferredSchemas } from '@gatehouse/platform/schema-compilers';
import { startTestSystem, type TestSystem } from '../system';

let h: TestSystem;
before(async () => {
  h = await startTestSystem();
});
after(async () => {
  await h?.close();
});

test('every route schema of the gateway, auth, users and audit compiles', () => {
  for (const name of ['gateway', 'auth', 'users', 'audit'] as const) {
    const compiled = compileDeferredSchemas(h.services[name].app);
    assert.ok(compiled > 0, `${name}: no deferred schema (are the deferred compilers still in createHttpApp?)`);
  }
});
