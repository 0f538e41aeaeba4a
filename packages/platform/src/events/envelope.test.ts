import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isCloudEvent, makeEvent, subjectMatches } from './envelope';
import { ev } from './testing';

describe('CloudEvents envelope', () => {
  test('makeEvent fills the required attributes', () => {
    const e = makeEvent({ source: 'auth', type: 'auth.events.logout', tenantId: 'ten', subject: 'u1', data: { a: 1 } });
    assert.equal(e.specversion, '1.0');
    assert.match(e.id, /^[0-9a-f-]{36}$/);
    assert.equal(e.datacontenttype, 'application/json');
    assert.equal(e.tenantid, 'ten');
    assert.ok(!Number.isNaN(Date.parse(e.time)));
    assert.ok(isCloudEvent(e));
    assert.ok(isCloudEvent(JSON.parse(JSON.stringify(e))));
    const fixed = makeEvent({ source: 's', type: 'user.events.created', tenantId: 't', data: null, id: 'x', time: new Date(0) });
    assert.equal(fixed.id, 'x');
    assert.equal(fixed.time, '1970-01-01T00:00:00.000Z');
    assert.equal('subject' in fixed, false);
  });

  test('makeEvent refuses types outside the stream and missing attributes', () => {
    for (const type of ['billing.events.x', 'user.events', 'user.events.*', 'user.events.>', 'user events.x', 'user..events.x']) {
      assert.throws(() => makeEvent({ source: 's', type, tenantId: 't', data: {} }), /not a subject/, type);
    }
    assert.throws(() => makeEvent({ source: '', type: 'user.events.created', tenantId: 't', data: {} }));
    assert.throws(() => makeEvent({ source: 's', type: 'user.events.created', tenantId: '', data: {} }));
  });

  test('isCloudEvent rejects anything missing a required attribute', () => {
    const good = ev('user.events.created');
    assert.equal(isCloudEvent(null), false);
    assert.equal(isCloudEvent('x'), false);
    assert.equal(isCloudEvent([]), false);
    for (const key of ['specversion', 'id', 'source', 'type', 'time', 'tenantid', 'datacontenttype', 'data']) {
      const copy: Record<string, unknown> = { ...good };
      delete copy[key];
      assert.equal(isCloudEvent(copy), false, `without ${key}`);
    }
    assert.equal(isCloudEvent({ ...good, specversion: '0.3' }), false);
    assert.equal(isCloudEvent({ ...good, time: 'yesterday' }), false);
    assert.equal(isCloudEvent({ ...good, subject: 5 }), false);
  });

  test('subject patterns follow NATS wildcard semantics', () => {
    const cases: Array<[string, string, boolean]> = [
      ['user.events.created', 'user.events.created', true],
      ['user.events.created', 'user.events.updated', false],
      ['user.events.*', 'user.events.created', true],
      ['user.events.*', 'user.events.created.extra', false],
      ['user.events.*', 'user.events', false],
      ['*.events.*', 'auth.events.logout', true],
      ['user.events.>', 'user.events.created', true],
      ['user.events.>', 'user.events.a.b.c', true],
      ['user.events.>', 'user.events', false],
      ['>', 'anything.at.all', true],
      ['*.events.>', 'social.events.like', true],
      ['*.events.>', 'social.other.like', false],
      ['user.*.created', 'user.events.created', true],
      ['user', 'user.events', false],
    ];
    for (const [p, s, want] of cases) assert.equal(subjectMatches(p, s), want, `${p} ~ ${s}`);
  });
});
