// `node --import ./bench/src/pg-count-hook.mjs`: counts every PostgreSQL statement the process
// sends (node-postgres `Client.prototype.query`, which Kysely's pool calls once per message: one
// round trip each, but for withTenant's open, written together with the statement after it),
// by what it is for, for the CPU bench's "statements per request". On SIGUSR2 the process writes
// the tally as JSON to $BENCH_PG_COUNT_FILE. Bench-only; the product never loads it.
//
// A statement is put in a bucket by its text (outbox, inbox, audit chain, webhooks, else
// `request`); a transaction's BEGIN (withTenant's `begin; set local …` included) counts in the
// bucket of the statement after it on the same client (or of the lead it carries), and its
// COMMIT or ROLLBACK in the same bucket: a transaction counts where its first statement does
// (the request's own transaction, which also inserts into the outbox, under `request`).
import { createRequire } from 'node:module';
import path from 'node:path';
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_PG_COUNT_FILE;
const pg = createRequire(path.join(process.cwd(), 'package.json'))('pg');

/** @type {Record<string, number>} */
const counts = {};
const BUCKETS = [
  ['outbox', /"outbox"|\boutbox\b/],
  ['inbox', /"inbox"|\binbox\b/],
  ['audit', /"entries"|\bentries\b|pg_advisory_xact_lock|dead_letters/],
  ['webhooks', /webhook/],
];
const bucketOf = (text) => BUCKETS.find(([, re]) => re.test(text))?.[0] ?? 'request';
const add = (b) => (counts[b] = (counts[b] ?? 0) + 1);

// BENCH_PG_COUNT_SQL=1: also tally by statement text (first 100 characters), under `sql`
const bySql = process.env.BENCH_PG_COUNT_SQL === '1' ? {} : undefined;
const state = new WeakMap();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  const raw = typeof config === 'string' ? config : String(config?.text ?? '');
  // past a leading comment: withTenant's open, written with the statement after it (db.pool.ts, openWithNext)
  const text = raw.replace(/^\s*\/\*.*?\*\/\s*/s, '');
  const head = text.trimStart().slice(0, 8).toLowerCase();
  if (bySql) {
    const k = text.replace(/\s+/g, ' ').slice(0, 100);
    bySql[k] = (bySql[k] ?? 0) + 1;
  }
  const s = state.get(this) ?? { openPending: false, tx: 'request' };
  state.set(this, s);
  if (head.startsWith('begin')) {
    // an open that carries a lead (withTenantLed: the audit chain's lock and head, the webhook
    // endpoints) is put in the lead's bucket; a plain open waits for the statement after it
    const lead = bucketOf(text);
    s.openPending = lead === 'request';
    if (!s.openPending) {
      s.tx = lead;
      add(lead);
    }
  } else if (head.startsWith('commit') || head.startsWith('rollback')) add(s.tx);
  else {
    const b = bucketOf(text);
    if (s.openPending) {
      s.tx = b;
      add(b);
    }
    s.openPending = false;
    add(b);
  }
  return query.call(this, config, ...rest);
};

if (file) process.on('SIGUSR2', () => writeFileSync(file, JSON.stringify(bySql ? { ...counts, sql: bySql } : counts)));
