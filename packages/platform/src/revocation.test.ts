import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createKvStore, type KvStore } from './kv';
import { createRevocationList, type RevocationList } from './revocation';

const REDIS_URL = process.env.TEST_REDIS_URL;
const logger = pino({ level: 'silent' });
const run = randomBytes(4).toString('hex');
const nowSec = () => Math.floor(Date.now() / 1000);

/** Resolves with the elapsed ms once `check` returns true; fails after `timeoutMs`. */
async function within(timeoutMs: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`not seen within ${timeoutMs} ms`);
    await sleep(5);
  }
  return Date.now() - started;
}

/** The shared behaviour, run against Redis and against the memory store. */
function behaviour(makeKv: (name: string) => KvStore, channel: string) {
  const stores: KvStore[] = [];
  const lists: RevocationList[] = [];
  let a: RevocationList;
  let b: RevocationList;

  const newList = async (name: string) => {
    const kv = makeKv(name);
    if (!stores.includes(kv)) stores.push(kv);
    const list = createRevocationList({ kv, logger, channel });
    lists.push(list);
    await list.start();
    return list;
  };

  before(async () => {
    a = await newList('a');
    b = await newList('b');
  });
  after(async () => {
    for (const l of lists) await l.stop();
    for (const s of stores) await s.close();
  });

  test('a revoked session is rejected at once by the revoker and within 1 s by another process', async () => {
    const sid = `sid-${randomBytes(6).toString('hex')}`;
    assert.equal(a.isRevoked({ sid }), false);
    const pending = a.revokeSession(sid, 60_000);
    // Applied locally before the shared store is even written.
    assert.equal(a.isRevoked({ sid }), true);
    await pending;
    const ms = await within(1000, () => b.isRevoked({ sid }));
    assert.ok(ms < 1000);
    assert.equal(b.isRevoked({ sid: 'some-other-session' }), false);
  });

  test('a user cut revokes tokens issued at or before it, not later ones', async () => {
    const sub = `user-${randomBytes(6).toString('hex')}`;
    const cut = nowSec();
    await a.revokeUser(sub, cut, 60_000);
    await within(1000, () => b.isRevoked({ sub, iat: cut }));
    for (const list of [a, b]) {
      assert.equal(list.isRevoked({ sub, iat: cut - 100 }), true);
      assert.equal(list.isRevoked({ sub, iat: cut }), true);
      assert.equal(list.isRevoked({ sub, iat: cut + 1 }), false);
      assert.equal(list.isRevoked({ sub, iat: undefined }), true, 'a token without iat fails closed');
      assert.equal(list.isRevoked({ sub: 'someone-else', iat: cut - 100 }), false);
    }
  });

  test('a tenant cut revokes every token of the tenant issued before it', async () => {
    const tid = `tenant-${randomBytes(6).toString('hex')}`;
    const cut = nowSec();
    await b.revokeTenant(tid, cut, 60_000);
    await within(1000, () => a.isRevoked({ sub: 'any-user', tid, iat: cut - 5 }));
    assert.equal(a.isRevoked({ sub: 'any-user', tid, iat: cut + 1 }), false);
    assert.equal(a.isRevoked({ sub: 'any-user', tid: 'other-tenant', iat: cut - 5 }), false);
  });

  test('a later, wider cut wins and an earlier narrower one does not undo it', async () => {
    const sub = `user-${randomBytes(6).toString('hex')}`;
    const t = nowSec();
    await a.revokeUser(sub, t - 10, 60_000);
    await a.revokeUser(sub, t, 60_000);
    await a.revokeUser(sub, t - 20, 60_000);
    await within(1000, () => b.isRevoked({ sub, iat: t }));
    assert.equal(b.isRevoked({ sub, iat: t - 5 }), true);
    assert.equal(b.isRevoked({ sub, iat: t + 1 }), false);
  });

  test('a list started later loads the entries revoked earlier', async () => {
    const sid = `sid-${randomBytes(6).toString('hex')}`;
    const sub = `user-${randomBytes(6).toString('hex')}`;
    const cut = nowSec();
    await a.revokeSession(sid, 60_000);
    await a.revokeUser(sub, cut, 60_000);
    const late = await newList('late');
    assert.equal(late.isRevoked({ sid }), true);
    assert.equal(late.isRevoked({ sub, iat: cut }), true);
    assert.equal(late.isRevoked({ sub, iat: cut + 1 }), false);
  });

  test('entries stop applying when their TTL has passed', async () => {
    const sid = `sid-${randomBytes(6).toString('hex')}`;
    await a.revokeSession(sid, 300);
    await within(1000, () => b.isRevoked({ sid }));
    await sleep(350);
    assert.equal(a.isRevoked({ sid }), false);
    assert.equal(b.isRevoked({ sid }), false);
    const late = await newList('late-after-expiry');
    assert.equal(late.isRevoked({ sid }), false);
  });

  test('rejects an empty id or a non-positive ttl', async () => {
    await assert.rejects(a.revokeSession('', 1000));
    await assert.rejects(a.revokeUser('u', nowSec(), 0));
  });
}

describe('revocation list (redis, two connections)', { skip: !REDIS_URL && 'no Redis in this run (embedded backends): set TEST_REDIS_URL or run npm test with Redis up' }, () => {
  const prefix = `test:${run}:`;
  const channel = `revocations-${run}`;
  const made = new Map<string, KvStore>();
  // Every list gets its own connection, like separate processes.
  behaviour((name) => {
    const kv = createKvStore({ url: REDIS_URL, keyPrefix: prefix, logger, name: `gh-rev-test-${run}-${name}` });
    made.set(name, kv);
    return kv;
  }, channel);

  test('a process whose subscription dropped still sees revocations within 1 s', async () => {
    const a = createRevocationList({ kv: made.get('a')!, logger, channel });
    const admin = new Redis(REDIS_URL!);
    const b = made.get('b')!;
    const bList = createRevocationList({ kv: b, logger, channel });
    try {
      await bList.start();
      const list = String(await admin.client('LIST'));
      const id = list
        .split('\n')
        .find((l) => l.includes(` name=gh-rev-test-${run}-b:sub `))
        ?.match(/^id=(\d+)/)?.[1];
      assert.ok(id, 'subscriber connection not found');
      await admin.client('KILL', 'ID', id);
      // Revoked while b's subscriber is reconnecting: the message may be missed, the reload
      // after resubscribing must pick the entry up.
      const sid = `sid-${randomBytes(6).toString('hex')}`;
      await a.revokeSession(sid, 60_000);
      await within(1000, () => bList.isRevoked({ sid }));
    } finally {
      await bList.stop();
      admin.disconnect();
    }
  });

  after(async () => {
    const admin = new Redis(REDIS_URL!);
    await admin.del(`${prefix}${channel}:entries`);
    admin.disconnect();
  });
});

describe('revocation list (memory)', () => {
  // One process, one memory store shared by every list, as in the embedded mode.
  const kv = createKvStore({ logger });
  behaviour(() => kv, 'revocations');

  test('lists on different memory stores do not share entries', async () => {
    const other = createKvStore({ logger });
    const list = createRevocationList({ kv: other, logger });
    try {
      await list.start();
      const sid = `sid-${randomBytes(6).toString('hex')}`;
      const mine = createRevocationList({ kv, logger });
      await mine.start();
      await mine.revokeSession(sid, 60_000);
      await sleep(50);
      assert.equal(list.isRevoked({ sid }), false);
      await mine.stop();
    } finally {
      await list.stop();
      await other.close();
    }
  });
});

describe('revocation list (redis down)', () => {
  test('the revoking process rejects the token locally and the call reports the failure', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const kv = createKvStore({ url: `redis://127.0.0.1:${port}`, logger });
    const list = createRevocationList({ kv, logger });
    try {
      await assert.rejects(list.start());
      const sid = `sid-${randomBytes(6).toString('hex')}`;
      await assert.rejects(list.revokeSession(sid, 60_000));
      assert.equal(list.isRevoked({ sid }), true);
    } finally {
      await list.stop();
      await kv.close();
    }
  });
});
