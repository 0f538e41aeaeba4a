/**
 * Bulk loading for the scale bench: `COPY … FROM STDIN` through pg-copy-streams, and the
 * usual bulk-load order (drop a table's secondary indexes and its own foreign keys, load,
 * rebuild them with one sort each, re-add the foreign keys with one validating join).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A column value in COPY's text format (`\N` is null). */
export type CopyValue = string | number | boolean | null | Date | string[];

/**
 * COPY text format escaping (backslash, tab, newline, carriage return). Hand-written: it is four
 * replacements, and the format is fixed by PostgreSQL's documentation ("COPY", text format).
 */
function esc(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/** One value as COPY text (arrays as PostgreSQL array literals of simple words). */
export function copyText(v: CopyValue): string {
  if (v === null) return '\\N';
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `{${v.join(',')}}`;
  return esc(String(v));
}

/** Streams rows into `table (columns)`; rows are batched into ~64 KiB chunks. Returns the row count. */
export async function copyRows(client: pg.ClientBase, table: string, columns: readonly string[], rows: Iterable<CopyValue[]>): Promise<number> {
  let n = 0;
  function* chunks(): Generator<string> {
    let buf = '';
    for (const r of rows) {
      buf += r.map(copyText).join('\t') + '\n';
      n += 1;
      if (buf.length > 65536) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  }
  const stream = client.query(copyFrom(`copy ${table} (${columns.join(', ')}) from stdin`));
  await pipeline(Readable.from(chunks()), stream);
  return n;
}

interface Saved { indexes: string[]; uniques: Array<{ name: string; def: string }>; fks: Array<{ name: string; def: string }> }

/**
 * Runs `load` with `schema.table`'s secondary indexes and own foreign keys dropped (and its
 * primary/unique constraints too when no other table references them), then restores every
 * one of them exactly (definitions read from the catalog before the drop).
 */
export async function bulkLoad<T>(client: pg.ClientBase, schema: string, table: string, load: () => Promise<T>): Promise<T> {
  const rel = `${schema}.${table}`;
  const referenced = (await client.query(`select 1 from pg_constraint where confrelid = $1::regclass and contype = 'f' limit 1`, [rel])).rowCount! > 0;
  const cons = await client.query<{ conname: string; contype: string; def: string }>(
    `select conname, contype, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u', 'f')`,
    [rel],
  );
  const saved: Saved = {
    indexes: (
      await client.query<{ indexdef: string }>(
        `select indexdef from pg_indexes where schemaname = $1 and tablename = $2 and indexname not in (select conname from pg_constraint where conrelid = $3::regclass)`,
        [schema, table, rel],
      )
    ).rows.map((r) => r.indexdef),
    uniques: referenced ? [] : cons.rows.filter((c) => c.contype !== 'f').map((c) => ({ name: c.conname, def: c.def })),
    fks: cons.rows.filter((c) => c.contype === 'f').map((c) => ({ name: c.conname, def: c.def })),
  };
  for (const f of saved.fks) await client.query(`alter table ${rel} drop constraint ${f.name}`);
  for (const u of saved.uniques) await client.query(`alter table ${rel} drop constraint ${u.name}`);
  for (const def of saved.indexes) {
    const name = /^CREATE (?:UNIQUE )?INDEX (\S+) ON/.exec(def)?.[1];
    if (!name) throw new Error(`cannot read index name from: ${def}`);
    await client.query(`drop index ${schema}.${name}`);
  }
  const result = await load();
  for (const u of saved.uniques) await client.query(`alter table ${rel} add constraint ${u.name} ${u.def}`);
  for (const def of saved.indexes) await client.query(def);
  for (const f of saved.fks) await client.query(`alter table ${rel} add constraint ${f.name} ${f.def}`);
  return result;
}
