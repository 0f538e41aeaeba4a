import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Generated, type Kysely } from 'kysely';
import { APP_ROLE, createDatabase, rlsSql } from './db';
import { preparedQuery } from './prepared';
import type { PlatformTables } from './schema';
import { createTestDatabase, testLogger } from './testing';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

interface Notes extends PlatformTables {
  notes: { id: Generated<number>; tenant_id: string; body: string; tags: string[]; created_at: Date };
}

describe('preparedQuery', async () => {
  const testDb = await createTestDatabase();
  after(() => testDb.drop());
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-prep-'));
  await writeFile(
    path.join(dir, '0001_notes.sql'),
    `create table notes (id serial primary key, tenant_id uuid not null, body text not null, tags text[] not null default '{}',
       created_at timestamptz not null default now());
     ${rlsSql('notes')}
     grant select, insert, update, delete on notes to ${APP_ROLE};
     grant usage on sequence notes_id_seq to ${APP_ROLE};`,
  );

  const insert = preparedQuery((db: Kysely<Notes>, p: { tenant: string; body: string; tags: string[]; ageSec: number }) =>
    db
      .insertInto('notes')
      .values({ tenant_id: p.tenant, body: p.body, tags: p.tags, created_at: sql<Date>`now() - make_interval(secs => ${p.ageSec})` })
      .returning(['id', 'body', 'tags', 'created_at']),
  );
  // a value used twice, a constant of the query (the limit) and one bound value
  const find = preparedQuery((db: Kysely<Notes>, p: { body: string }) =>
    db
      .selectFrom('notes')
      .select(['body', 'tags'])
      .where((eb) => eb.or([eb('body', '=', p.body), eb('body', '=', sql<string>`${p.body} || '!'`)]))
      .orderBy('body')
      .limit(5),
  );

  test('compiles once and runs with each call\'s values, inside withTenant (RLS) and on the owner pool', async () => {
    const db = await createDatabase<Notes>({ url: testDb.url, schema: 'prep', logger: testLogger });
    await db.migrate(dir);
    const a = await db.withTenant(A, (trx) => insert.run(trx, { tenant: A, body: 'one', tags: ['x', 'y'], ageSec: 3600 }));
    assert.equal(a.length, 1);
    assert.equal(a[0]!.body, 'one');
    assert.deepEqual(a[0]!.tags, ['x', 'y']);
    assert.ok(Date.now() - a[0]!.created_at.getTime() > 3500_000, 'the interval parameter was applied');
    await db.withTenant(A, (trx) => insert.run(trx, { tenant: A, body: 'one!', tags: [], ageSec: 0 }));
    await db.withTenant(B, (trx) => insert.run(trx, { tenant: B, body: 'one', tags: ['b'], ageSec: 0 }));

    assert.deepEqual(await db.withTenant(A, (trx) => find.run(trx, { body: 'one' })), [
      { body: 'one', tags: ['x', 'y'] },
      { body: 'one!', tags: [] },
    ]);
    assert.deepEqual(await db.withTenant(B, (trx) => find.run(trx, { body: 'one' })), [{ body: 'one', tags: ['b'] }]);
    assert.deepEqual(await find.run(db.admin, { body: 'nothing' }), []);
    // one text, placeholders in it: the values never become SQL
    assert.match(find.sql(), /"body" = \$1 or "body" = \$2 \|\| '!'/);
    assert.deepEqual(await db.withTenant(A, (trx) => find.run(trx, { body: "one' or true --" })), []);
    await db.close();
  });

  test('refuses a missing value, and a value the query does not bind', async () => {
    const db = await createDatabase<Notes>({ url: testDb.url, schema: 'prep2', logger: testLogger });
    await db.migrate(dir);
    await assert.rejects(
      db.withTenant(A, (trx) => find.run(trx, { body: undefined as unknown as string })),
      /no value for body/,
    );
    // a value turned into something else in JS before Kysely sees it cannot be swapped per call
    const inlined = preparedQuery((k: Kysely<Notes>, p: { body: string }) => k.selectFrom('notes').select('body').where('body', '=', `${p.body}!`));
    await assert.rejects(db.withTenant(A, async (trx) => inlined.run(trx, { body: 'one' })), /not a parameter/);
    await db.close();
  });
});
