/**
 * `npm run bench -- --scale` (or BENCH_ONLY=scale), PostgreSQL only: cost as data grows (issue 13
 * item 4). On the scratch database of DATABASE_URL (its auth, users and audit schemas are
 * dropped) and a copy of it, `<name>_loaded`, created and dropped here: start the system once
 * (migrations), seed the probe set, copy, seed the bulk into the copy (BENCH_SCALE × 1,000,000
 * users, 2,000,000 sessions, 10,000,000 audit entries, 100,000 attendance records), measure both
 * alternately, EXPLAIN the statements behind every read in both, and write
 * `results/<date>-servers-scale.{md,json}` with the sizes on disk. BENCH_KEEP_DB=1 keeps the copy.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { machine, root, spawnNode } from '../lib';
import { bulkSizes, PROBE } from './data';
import { explainReads, type Explained } from './explain';
import { measureReads, type RunFigures } from './measure';
import { seedBulk, seedProbe, type TableTiming } from './seed';
import { scaleMarkdown } from './report';

export interface ScaleReport {
  date: string;
  machine: ReturnType<typeof machine>;
  scale: number;
  seconds: number;
  bulk: ReturnType<typeof bulkSizes>;
  probe: typeof PROBE;
  load: { before: number[]; empty: number[]; loaded: number[]; after: number[] };
  seeding: { probe: TableTiming[]; bulk: TableTiming[]; bulkSeconds: number };
  /** medians over the rounds */
  empty: RunFigures;
  loaded: RunFigures;
  rounds: { empty: RunFigures[]; loaded: RunFigures[] };
  explain: { empty: Explained[]; loaded: Explained[] };
  sizes: Array<{ table: string; rows: number; totalBytes: number; tableBytes: number; indexBytes: number }>;
  databaseBytes: number;
  settings: Record<string, string>;
  /** a remark added after the run (printed under the summary) */
  note?: string;
}

async function sizes(client: pg.Client) {
  const r = await client.query<{ rel: string; rows: string; total: string; tbl: string; idx: string }>(`
    select format('%s.%s', n.nspname, c.relname) as rel, c.reltuples::bigint as rows, pg_total_relation_size(c.oid) as total,
           pg_table_size(c.oid) as tbl, pg_indexes_size(c.oid) as idx
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'r' and n.nspname in ('auth', 'users', 'audit') order by pg_total_relation_size(c.oid) desc`);
  return r.rows.filter((x) => Number(x.total) > 64 * 1024).map((x) => ({ table: x.rel, rows: Math.max(0, Number(x.rows)), totalBytes: Number(x.total), tableBytes: Number(x.tbl), indexBytes: Number(x.idx) }));
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/** Medians over rounds of each figure (p50, p99, rate, CPU) and of the verify rate. */
function mergeRounds(rounds: RunFigures[]): RunFigures {
  const first = rounds[0]!;
  return {
    figures: first.figures.map((f) => {
      const all = rounds.map((r) => r.figures.find((x) => x.name === f.name)!);
      return { ...f, p50: median(all.map((x) => x.p50)), p99: median(all.map((x) => x.p99)), rps: median(all.map((x) => x.rps)), cpuMsPerReq: median(all.map((x) => x.cpuMsPerReq)), requests: all.reduce((s, x) => s + x.requests, 0), non2xx: all.reduce((s, x) => s + x.non2xx, 0) };
    }),
    verify: { ...first.verify, entriesPerSec: median(rounds.map((r) => r.verify.entriesPerSec)), ok: rounds.every((r) => r.verify.ok), calls: rounds.reduce((s, r) => s + r.verify.calls, 0) },
  };
}

/**
 * The empty database is DATABASE_URL's; the loaded one a copy of it made after the probe set
 * (`create database … template`, so both hold the very same probe rows) with the bulk added.
 * The reads then alternate between the two (BENCH_ROUNDS rounds, default 2: empty, loaded,
 * empty, loaded), each with a fresh process and NATS stream, so both see the same machine load.
 */
export async function runScale(env: Record<string, string | undefined>, base: string, settings: Record<string, string>, dropStream: (name: string) => Promise<void>): Promise<void> {
  const url = env.DATABASE_URL;
  if (!url) throw new Error('--scale needs DATABASE_URL (a scratch PostgreSQL database; its auth, users and audit schemas are dropped)');
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const roundsN = Number(process.env.BENCH_ROUNDS ?? 2);
  const bulk = bulkSizes(scale);
  const loadedDb = `${new URL(url).pathname.slice(1)}_loaded`;
  const loadedUrl = Object.assign(new URL(url), { pathname: `/${loadedDb}` }).toString();
  const maintenance = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await maintenance.connect();
  const load = { before: os.loadavg(), empty: [] as number[], loaded: [] as number[], after: [] as number[] };
  const streams: string[] = [];
  try {
    await maintenance.query(`drop database if exists ${loadedDb}`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('drop schema if exists auth cascade; drop schema if exists users cascade; drop schema if exists audit cascade;');
    let started = 0;
    async function withSystem<T>(dbUrl: string, fn: (pid: number) => Promise<T>): Promise<T> {
      const stream = `${env.NATS_STREAM}_${++started}`;
      streams.push(stream);
      const child = spawnNode('cli/src/main.ts', ['start'], { ...env, DATABASE_URL: dbUrl, NATS_STREAM: stream, NATS_SUBJECT_PREFIX: `${env.NATS_SUBJECT_PREFIX}s${started}` });
      try {
        await child.waitFor('gatehouse ready', 600_000);
        for (;;) {
          const r = await fetch(`${base}/readyz`).catch(() => undefined);
          if (r?.ok) break;
          await sleep(50);
        }
        return await fn(child.proc.pid!);
      } finally {
        await child.stop();
      }
    }
    console.log(`scale bench: BENCH_SCALE=${scale}, ${seconds} s per read, ${roundsN} rounds`);
    await withSystem(url, async () => undefined); // migrations
    const { probe, timings: probeTimings } = await seedProbe(client, PROBE);
    await client.end();
    await maintenance.query(`create database ${loadedDb} template ${new URL(url).pathname.slice(1)}`);
    const loadedClient = new pg.Client({ connectionString: loadedUrl });
    await loadedClient.connect();
    const t = performance.now();
    let bulkTimings: TableTiming[];
    try {
      bulkTimings = await seedBulk(loadedClient, bulk);
    } finally {
      await loadedClient.end();
    }
    const bulkSeconds = (performance.now() - t) / 1000;
    console.log(`bulk seeded in ${bulkSeconds.toFixed(0)} s`);
    const rounds: { empty: RunFigures[]; loaded: RunFigures[] } = { empty: [], loaded: [] };
    for (let i = 0; i < roundsN; i++) {
      console.log(`round ${i + 1}: empty`);
      rounds.empty.push(await withSystem(url, (pid) => measureReads(base, pid, probe, seconds)));
      load.empty = os.loadavg();
      console.log(`round ${i + 1}: loaded`);
      rounds.loaded.push(await withSystem(loadedUrl, (pid) => measureReads(base, pid, probe, seconds)));
      load.loaded = os.loadavg();
    }
    const explainEmpty = await explainReads(url, probe);
    const explainLoaded = await explainReads(loadedUrl, probe);
    for (const e of explainLoaded) console.log(`  EXPLAIN ${e.name}: ${e.verdict} (${e.ms.toFixed(1)} ms; ${e.indexes.join(', ') || 'no index'})`);
    const lc = new pg.Client({ connectionString: loadedUrl });
    await lc.connect();
    const db = await lc.query<{ n: string }>('select pg_database_size(current_database()) as n');
    const tableSizes = await sizes(lc);
    await lc.end();
    load.after = os.loadavg();
    const report: ScaleReport = {
      date: new Date().toISOString(),
      machine: machine(),
      scale,
      seconds,
      bulk,
      probe: PROBE,
      load,
      seeding: { probe: probeTimings, bulk: bulkTimings, bulkSeconds },
      empty: mergeRounds(rounds.empty),
      loaded: mergeRounds(rounds.loaded),
      rounds,
      explain: { empty: explainEmpty, loaded: explainLoaded },
      sizes: tableSizes,
      databaseBytes: Number(db.rows[0]!.n),
      settings,
    };
    const dir = path.join(root, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const name = `${report.date.slice(0, 10)}-servers-scale${scale === 1 ? '' : `-${scale}`}`;
    await writeFile(path.join(dir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
    await writeFile(path.join(dir, `${name}.md`), scaleMarkdown(report));
    console.log(`wrote bench/results/${name}.md`);
  } finally {
    for (const s of streams) await dropStream(s);
    if (process.env.BENCH_KEEP_DB !== '1') await maintenance.query(`drop database if exists ${loadedDb}`);
    await maintenance.end();
  }
}
