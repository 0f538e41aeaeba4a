import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { sql } from 'kysely';
import canonicalize from 'canonicalize';
import { sha256 } from '@gatehouse/platform/crypto';
import type { Database } from '../../db/schema';
import { createAuditTestDatabase } from '../../testing';
import { AUDIT_SCHEMA } from '../../deps';
import { GENESIS_HASH, entryHash } from './chain.hash';
import { REDACTED, cleanString, isSecretKey, sanitizeData } from './chain.sanitize';
import { createChainService, type AppendInput } from './chain.service';

const migrations = new URL('../../../migrations', import.meta.url).pathname;

function input(n: number, over: Partial<AppendInput> = {}): AppendInput {
  return {
    eventId: randomUUID(),
    type: 'user.events.updated',
    actorId: randomUUID(),
    subjectId: randomUUID(),
    ip: '203.0.113.7',
    userAgent: 'test-agent/1.0',
    requestId: `req-${n}`,
    data: { n, nested: { list: [1, 2.5, 'x'], flag: true } },
    occurredAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n % 60, 123)),
    ...over,
  };
}

describe('hash (pure)', () => {
  test('entryHash is SHA-256 of prevHash followed by the RFC 8785 JSON of the fields', () => {
    const f = {
      seq: 1, tenantId: randomUUID(), type: 't.events.x', actorId: null, subjectId: 'b', ip: null,
      userAgent: null, requestId: null, data: { b: 1, a: [true, null, 'é'] }, occurredAt: '2025-01-01T00:00:00.000Z', eventId: 'e1',
    };
    const expected = sha256(GENESIS_HASH + canonicalize(f));
    assert.equal(entryHash(GENESIS_HASH, f), expected);
    // key order of the input does not matter; any field change does
    assert.equal(entryHash(GENESIS_HASH, { ...f, data: { a: [true, null, 'é'], b: 1 } }), expected);
    assert.notEqual(entryHash(GENESIS_HASH, { ...f, seq: 2 }), expected);
    assert.notEqual(entryHash('1'.repeat(64), f), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
  });

  test('canonicalize follows RFC 8785 (sorted keys, ES number form, minimal escapes)', () => {
    assert.equal(canonicalize({ b: [1e21, 0.1, -0], a: 'é\n', c: { z: null, y: 1.5e-7 } }), '{"a":"é\\n","b":[1e+21,0.1,0],"c":{"y":1.5e-7,"z":null}}');
  });
});

describe('sanitize (pure)', () => {
  test('secret-looking keys are removed at any depth, case-insensitively', () => {
    for (const k of ['password', 'newPassword', 'current_password', 'Token', 'refreshToken', 'mfa_token', 'secret', 'clientSecret', 'code', 'backupCodes', 'otp', 'passwordHash', 'Authorization', 'cookie', 'X-Api-Key', 'privateKey']) {
      assert.equal(isSecretKey(k), true, k);
    }
    for (const k of ['userId', 'email', 'reason', 'ip', 'userAgent', 'sessionId', 'credentialId', 'title']) {
      assert.equal(isSecretKey(k), false, k);
    }
    const out = sanitizeData({ email: 'a@b.c', password: 'hunter2', deep: { list: [{ Token: 't', keep: 1 }], Cookie: 'c=1' } });
    assert.deepEqual(out, { email: 'a@b.c', deep: { list: [{ keep: 1 }] } });
  });

  test('values PostgreSQL refuses are made storable; JWTs and bearer credentials in strings are masked', () => {
    assert.equal(cleanString('a\u0000b'), 'a\uFFFDb');
    assert.equal(cleanString('x\uD800y'), 'x\uFFFDy');
    assert.equal(cleanString('ok \uD83D\uDE00'), 'ok \uD83D\uDE00');
    assert.equal(cleanString('see eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl now'), `see ${REDACTED} now`);
    assert.equal(cleanString('Authorization: Bearer abc.def-ghi'), `Authorization: Bearer ${REDACTED}`);
    assert.deepEqual(sanitizeData('plain'), { value: 'plain' });
    assert.deepEqual(sanitizeData(null), {});
    assert.deepEqual(sanitizeData({ n: Number.NaN }), { n: null });
    const deep: Record<string, unknown> = {};
    let cur = deep;
    for (let i = 0; i < 50; i++) cur = (cur.x = {}) as Record<string, unknown>;
    assert.match(JSON.stringify(sanitizeData(deep)), /too deep/);
    // a __proto__ key from parsed JSON stays data, not a prototype
    const proto = sanitizeData(JSON.parse('{"__proto__": {"polluted": 1}}'));
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(Object.keys(proto), ['__proto__']);
  });
});

describe('chain (database)', () => {
  let t: { db: Database; drop(): Promise<void> };
  let chain: ReturnType<typeof createChainService>;

  before(async () => {
    t = await createAuditTestDatabase();
    await t.db.migrate(migrations);
    chain = createChainService({ db: t.db });
  });
  after(async () => {
    await t.drop();
  });

  test('the first entry links to the genesis hash and each next one to its predecessor', async () => {
    const tenant = randomUUID();
    const a = await chain.append(tenant, input(1));
    const b = await chain.append(tenant, input(2));
    assert.ok(a && b);
    assert.equal(a.seq, 1);
    assert.equal(a.prevHash, GENESIS_HASH);
    assert.equal(b.seq, 2);
    assert.equal(b.prevHash, a.hash);
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 2 });
  });

  test('the same event id appends once (redelivery)', async () => {
    const tenant = randomUUID();
    const i = input(1);
    assert.ok(await chain.append(tenant, i));
    assert.equal(await chain.append(tenant, i), null);
    assert.equal(await chain.append(tenant, { ...i, data: { other: true } }), null);
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 1 });
  });

  test('1,000 concurrent appends for one tenant: seq gapless 1..1000, chain verifies', async () => {
    const tenant = randomUUID();
    const other = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => chain.append(i % 10 === 0 ? other : tenant, input(i))),
    );
    assert.equal(results.filter(Boolean).length, 1000);
    const seqs = (await t.db.admin.selectFrom('entries').select('seq').where('tenant_id', '=', tenant).orderBy('seq').execute()).map((r) => Number(r.seq));
    assert.equal(seqs.length, 900);
    assert.deepEqual(seqs, Array.from({ length: 900 }, (_, i) => i + 1));
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 900 });
    assert.deepEqual(await chain.verify(other), { ok: true, checked: 100 });
  });

  test('a queued batch is 3 round trips whatever its size: open with lock and head, one INSERT, COMMIT', async () => {
    if (t.db.kind !== 'postgres') return; // PGlite has no wire round trips to count
    const tenant = randomUUID();
    // every statement the pg driver sends goes through Client.prototype.query; only those made
    // on behalf of these appends count
    const mine = new AsyncLocalStorage<true>();
    const original = pg.Client.prototype.query;
    const sent: string[] = [];
    pg.Client.prototype.query = function (this: pg.Client, ...args: Parameters<typeof original>) {
      const q = args[0] as unknown;
      if (mine.getStore()) sent.push(typeof q === 'string' ? q : String((q as { text?: string }).text ?? 'query'));
      return original.apply(this, args);
    } as typeof original;
    let results;
    try {
      // the first append starts its batch at once; the 19 queued behind it make the second
      results = await mine.run(true, () => Promise.all(Array.from({ length: 20 }, (_, i) => chain.append(tenant, input(i)))));
    } finally {
      pg.Client.prototype.query = original;
    }
    assert.deepEqual(results.map((e) => e?.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(sent.length, 6, sent.join('\n'));
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 20 });
  });

  test('a redelivery queued among new events: it resolves null, the others append, seq stays gapless', async () => {
    const tenant = randomUUID();
    const first = input(0);
    assert.ok(await chain.append(tenant, first));
    const batch = Array.from({ length: 10 }, (_, i) => input(i + 1));
    // the duplicate in the middle of a batch, and one event twice in the same batch
    const results = await Promise.all([...batch.slice(0, 5), first, ...batch.slice(5), batch[7]!].map((i) => chain.append(tenant, i)));
    assert.equal(results[5], null);
    assert.equal(results.filter((e) => e === null).length, 2);
    assert.deepEqual(results.filter((e) => e !== null).map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i + 2));
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 11 });
  });

  test('two chain services (two replicas) appending to one tenant at once make one gapless chain', async () => {
    const tenant = randomUUID();
    const replica = createChainService({ db: t.db });
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? chain : replica).append(tenant, input(i))));
    assert.equal(results.filter(Boolean).length, 400);
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 400 });
  });

  test('the application role cannot UPDATE, DELETE or TRUNCATE entries', async () => {
    const tenant = randomUUID();
    await chain.append(tenant, input(1));
    for (const stmt of [sql`update entries set type = 'x'`, sql`delete from entries`, sql`truncate entries`]) {
      await assert.rejects(
        t.db.withTenant(tenant, (trx) => stmt.execute(trx)),
        (err: { code?: string }) => err.code === '42501',
      );
    }
  });

  test('even the owner cannot change or delete an entry while the append-only trigger is on', async () => {
    const tenant = randomUUID();
    await chain.append(tenant, input(1));
    await assert.rejects(sql`update entries set type = 'forged' where tenant_id = ${tenant}`.execute(t.db.admin), /append-only/);
    await assert.rejects(sql`delete from entries where tenant_id = ${tenant}`.execute(t.db.admin), /append-only/);
    await assert.rejects(sql`truncate entries`.execute(t.db.admin), /append-only/);
    assert.deepEqual(await chain.verify(tenant), { ok: true, checked: 1 });
  });

  /** Runs `stmt` as the owner with the append-only trigger disabled, as an attacker with DDL rights would. */
  async function tamper(stmt: ReturnType<typeof sql>) {
    await t.db.admin.transaction().execute(async (trx) => {
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries disable trigger entries_append_only`).execute(trx);
      await stmt.execute(trx);
      await sql.raw(`alter table ${AUDIT_SCHEMA}.entries enable trigger entries_append_only`).execute(trx);
    });
  }

  test('a row altered in the database makes verify report its seq', async () => {
    const tenant = randomUUID();
    for (let i = 1; i <= 5; i++) await chain.append(tenant, input(i));
    await tamper(sql`update entries set data = '{"n": 999}'::jsonb where tenant_id = ${tenant} and seq = 3`);
    assert.deepEqual(await chain.verify(tenant), { ok: false, checked: 3, brokenAt: 3 });
  });

  test('a row altered with its hash recomputed breaks the link to the next one', async () => {
    const tenant = randomUUID();
    for (let i = 1; i <= 4; i++) await chain.append(tenant, input(i));
    const row = await t.db.admin.selectFrom('entries').selectAll().where('tenant_id', '=', tenant).where('seq', '=', 2).executeTakeFirstOrThrow();
    const forged = entryHash(row.prev_hash, {
      seq: 2, tenantId: tenant, type: 'auth.events.login_succeeded', actorId: row.actor_id, subjectId: row.subject_id, ip: row.ip,
      userAgent: row.user_agent, requestId: row.request_id, data: row.data, occurredAt: new Date(row.occurred_at).toISOString(), eventId: row.event_id,
    });
    await tamper(sql`update entries set type = 'auth.events.login_succeeded', hash = ${forged} where tenant_id = ${tenant} and seq = 2`);
    assert.deepEqual(await chain.verify(tenant), { ok: false, checked: 3, brokenAt: 3 });
  });

  test('a deleted row makes verify report the missing seq', async () => {
    const tenant = randomUUID();
    for (let i = 1; i <= 4; i++) await chain.append(tenant, input(i));
    await tamper(sql`delete from entries where tenant_id = ${tenant} and seq = 2`);
    assert.deepEqual(await chain.verify(tenant), { ok: false, checked: 2, brokenAt: 2 });
  });

  test('an empty chain verifies', async () => {
    assert.deepEqual(await chain.verify(randomUUID()), { ok: true, checked: 0 });
  });

  test('row-level security: a tenant transaction sees only its own entries', async () => {
    const a = randomUUID();
    const b = randomUUID();
    await chain.append(a, input(1));
    await chain.append(b, input(2));
    const seen = await t.db.withTenant(a, (trx) => trx.selectFrom('entries').select('tenant_id').execute());
    assert.deepEqual([...new Set(seen.map((r) => r.tenant_id))], [a]);
    // and cannot insert into another tenant's chain
    await assert.rejects(t.db.withTenant(a, (trx, emit) => chain.appendInTx(trx, emit, b, input(3))));
  });
});
