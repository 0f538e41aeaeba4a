/**
 * Audit ingestion under a backlog, A/B: `measureIngestion` of bench/src/inprocess.ts (the audit
 * service in process on PostgreSQL, 3,000 events for one tenant published at once to the
 * in-process transport, time until all are in the chain) run in a child process from each
 * checkout in turn, with bench/src/pg-count-hook.mjs loaded into both: events/s, CPU per event
 * (the whole process: publisher and consumer) and PostgreSQL statements per event. This is
 * where batching shows: events wait, so each audit batch carries many.
 * Usage: DATABASE_URL=<scratch database> node --import tsx bench/src/ingest-ab.ts <base checkout> [rounds]
 * (the audit schema of DATABASE_URL is dropped and re-created each round).
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fmt, root } from './lib';

const base = process.argv[2];
const rounds = Number(process.argv[3] ?? 3);
const url = process.env.DATABASE_URL;
if (!base || !url) throw new Error('usage: DATABASE_URL=<scratch database> node --import tsx bench/src/ingest-ab.ts <base checkout> [rounds]');
const hook = path.join(root, 'bench/src/pg-count-hook.mjs');
const countFile = path.join(tmpdir(), `gh-bench-ingest-count-${process.pid}.json`);

// run in the child, from the checkout under test
const childSource = `
import { readFileSync } from 'node:fs';
import path from 'node:path';
const { measureIngestion } = await import(path.join(process.cwd(), 'bench/src/inprocess.ts'));
const c0 = process.cpuUsage();
const r = await measureIngestion(process.env.DATABASE_URL);
const c = process.cpuUsage(c0);
process.kill(process.pid, 'SIGUSR2');
await new Promise((res) => setTimeout(res, 200));
const counts = JSON.parse(readFileSync(process.env.BENCH_PG_COUNT_FILE, 'utf8'));
process.stdout.write(JSON.stringify({ ...r, cpuMs: (c.user + c.system) / 1000, counts }) + '\\n');
process.exit(0);`;

interface Round { side: 'A' | 'B'; perSec: number; cpuMsPerEvent: number; pgPerEvent: Record<string, number>; load: number }

function once(checkout: string): Promise<{ events: number; perSec: number; cpuMs: number; counts: Record<string, number> }> {
  rmSync(countFile, { force: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', hook, '--input-type=module', '-e', childSource], {
      cwd: checkout,
      env: { ...process.env, BENCH_PG_COUNT_FILE: countFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`ingestion run in ${checkout} failed (${code}): ${out.slice(-500)}`));
      else resolve(JSON.parse(line) as { events: number; perSec: number; cpuMs: number; counts: Record<string, number> });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const loadBefore = loadavg();
const results: Round[] = [];
for (let i = 0; i < rounds; i++) {
  for (const [side, checkout] of [['A', base], ['B', root]] as const) {
    const r = await once(checkout);
    const pgPerEvent = Object.fromEntries(Object.entries(r.counts).map(([k, v]) => [k, v / r.events]));
    results.push({ side, perSec: r.perSec, cpuMsPerEvent: r.cpuMs / r.events, pgPerEvent, load: loadavg()[0]! });
    console.log(`${side}${i + 1}: ${fmt(r.perSec)} events/s, ${fmt(r.cpuMs / r.events, 3)} ms CPU/event, audit statements/event ${fmt(pgPerEvent.audit ?? 0, 3)}`);
  }
}
const loadAfter = loadavg();
const side = (s: 'A' | 'B') => results.filter((r) => r.side === s);
const m = (s: 'A' | 'B', f: (r: Round) => number) => median(side(s).map(f));
const md = [
  `# Audit ingestion under a backlog, A/B ${new Date().toISOString().slice(0, 10)}`,
  '',
  `\`DATABASE_URL=<scratch> node --import tsx bench/src/ingest-ab.ts ${base} ${rounds}\`: 3,000 events for one tenant published at once to the in-process transport, the audit service in the same process on PostgreSQL; A = \`${base}\`, B = this checkout, alternated; load average 1/5/15 min before ${loadBefore.map((x) => x.toFixed(1)).join(' / ')}, after ${loadAfter.map((x) => x.toFixed(1)).join(' / ')}.`,
  '',
  '| | A | B |',
  '|---|---:|---:|',
  `| events/s (median) | ${fmt(m('A', (r) => r.perSec))} | ${fmt(m('B', (r) => r.perSec))} |`,
  `| CPU ms per event, whole process (median) | ${fmt(m('A', (r) => r.cpuMsPerEvent), 3)} | ${fmt(m('B', (r) => r.cpuMsPerEvent), 3)} |`,
  `| audit statements per event (median) | ${fmt(m('A', (r) => r.pgPerEvent.audit ?? 0), 3)} | ${fmt(m('B', (r) => r.pgPerEvent.audit ?? 0), 3)} |`,
  '',
  '| round | side | events/s | CPU ms/event | statements/event by bucket | load (1 min) |',
  '|---|---|---:|---:|---|---:|',
  ...results.map((r, i) => `| ${Math.floor(i / 2) + 1} | ${r.side} | ${fmt(r.perSec)} | ${fmt(r.cpuMsPerEvent, 3)} | ${Object.entries(r.pgPerEvent).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(', ')} | ${r.load.toFixed(1)} |`),
  '',
].join('\n');
const out = path.join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-servers-ingest-ab`);
writeFileSync(`${out}.md`, md);
writeFileSync(`${out}.json`, JSON.stringify({ base, rounds, loadBefore, loadAfter, results }, null, 2) + '\n');
console.log(`wrote ${path.relative(root, out)}.md`);
