/** Which unexpected errors mean "a backing server is down" (503) rather than a bug (500). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDependencyDown } from './errors';

test('connection errors of PostgreSQL, Redis and NATS count as a dependency being down', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  assert.equal(isDependencyDown(refused), true);
  assert.equal(isDependencyDown(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })), true);
  assert.equal(isDependencyDown(Object.assign(new Error('the database system is starting up'), { code: '57P03' })), true);
  assert.equal(isDependencyDown(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isDependencyDown(new Error('wrapped', { cause: refused })), true);
});

test('other errors are not', () => {
  assert.equal(isDependencyDown(new TypeError("Cannot read properties of undefined (reading 'id')")), false);
  assert.equal(isDependencyDown(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })), false);
  assert.equal(isDependencyDown(undefined), false);
  assert.equal(isDependencyDown('ECONNREFUSED'), false);
});
