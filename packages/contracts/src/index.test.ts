import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventContextSchema, payloadProblem, problems, ProblemSchema, TenantEventDataSchema, UserEventDataSchema } from './index';

describe('event payload contracts', () => {
  const user = { id: '00000000-0000-4000-8000-000000000002', email: 'a@example.test', username: null, displayName: 'A', roles: ['user'], action: 'created' };

  test('a user event as auth publishes it matches; a wrong field is named', () => {
    assert.equal(payloadProblem(UserEventDataSchema, user), undefined);
    assert.match(payloadProblem(UserEventDataSchema, { ...user, id: 'not-a-uuid' }) ?? '', /\/id/);
    assert.match(payloadProblem(UserEventDataSchema, { ...user, action: 'disabled' }) ?? '', /\/action/);
    assert.match(payloadProblem(UserEventDataSchema, { id: user.id }) ?? '', /event contract/);
  });

  test('tenant events and the request context', () => {
    assert.equal(payloadProblem(TenantEventDataSchema, { id: user.id, slug: 'acme', name: 'Acme', status: 'active', action: 'created', requestId: 'r' }), undefined);
    assert.equal(payloadProblem(EventContextSchema, { userId: 'u', ip: null, other: { any: 1 } }), undefined);
    assert.match(payloadProblem(EventContextSchema, { ip: 7 }) ?? '', /\/ip/);
  });

  test('problems() references the one ProblemSchema for each status', () => {
    const p = problems(400, 401);
    assert.deepEqual(Object.keys(p), ['400', '401']);
    assert.equal(p[400], ProblemSchema);
  });
});
