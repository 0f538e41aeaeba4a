/** The Markdown of a scale run (`results/<date>-servers-scale.md`). */
import { fmt } from '../lib';
import type { ScaleReport } from './run';

const mib = (b: number) => `${fmt(b / 2 ** 20)} MiB`;
const la = (x: number[]) => x.map((v) => v.toFixed(1)).join(' / ');

export function scaleMarkdown(r: ScaleReport): string {
  const m = r.machine;
  const rows = r.empty.figures.map((e) => {
    const l = r.loaded.figures.find((x) => x.name === e.name)!;
    const ratio = l.p99 / e.p99;
    return `| ${e.name} | ${fmt(e.p50, 1)} | ${fmt(e.p99, 1)} | ${fmt(l.p50, 1)} | ${fmt(l.p99, 1)} | ${fmt(ratio, 2)}× | ${ratio <= 2 ? 'met' : '**missed**'} | ${fmt(e.cpuMsPerReq, 2)} / ${fmt(l.cpuMsPerReq, 2)} | ${e.non2xx + l.non2xx} |`;
  });
  const v = (x: ScaleReport['empty']['verify']) => `${fmt(x.entriesPerSec)} entries/s (${x.calls} calls, ${fmt(x.entries)} entries, ok ${x.ok})`;
  const explainRows = r.explain.loaded.map((e) => {
    const before = r.explain.empty.find((x) => x.name === e.name);
    const seq = e.seqScans.map((s) => `${s.table} (${fmt(s.rows)} rows)`).join(', ');
    return `| ${e.name} | ${e.verdict === 'ok' ? 'ok' : `**${e.verdict}**`} | ${e.indexes.join(', ') || '–'} | ${seq || '–'} | ${before ? fmt(before.ms, 2) : '–'} | ${fmt(e.ms, 2)} | ${fmt(e.sharedHit)} / ${fmt(e.sharedRead)} |`;
  });
  const missed = r.empty.figures.filter((e) => r.loaded.figures.find((x) => x.name === e.name)!.p99 / e.p99 > 2).map((e) => e.name);
  const flagged = r.explain.loaded.filter((e) => e.verdict !== 'ok').map((e) => e.name);
  const summary = `Summary: p99 loaded ≤ 2× empty for ${r.empty.figures.length - missed.length} of ${r.empty.figures.length} reads${missed.length ? ` (missed: ${missed.join(', ')})` : ''}; EXPLAIN on the loaded database: ${flagged.length ? `Seq Scan on a large table in ${flagged.join(', ')}` : 'no Seq Scan on a large table'}.`;
  const total = r.seeding.bulk.filter((t) => t.table !== 'vacuum analyze').reduce((s, t) => s + t.rows, 0);
  return [
    `# Cost as data grows ${r.date.slice(0, 10)} (servers, BENCH_SCALE=${r.scale})`,
    '',
    `Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; PostgreSQL on the same machine (shared_buffers as configured there), load generator on the same cores, over loopback; shared with other jobs (load average 1/5/15 min: before ${la(r.load.before)}, after the empty run ${la(r.load.empty)}, after the loaded run ${la(r.load.loaded)}, at the end ${la(r.load.after)}). Each read ${r.seconds} s after 1 s of warm-up (workers: login 4, attendance report 2, the others 8); the empty and the loaded database alternate, each with a freshly started process, ${r.rounds.empty.length} rounds each, and the figures are the medians over the rounds. Gateway limits: ${Object.entries(r.settings).map(([k, x]) => `${k}=${x}`).join(', ')}. \`BENCH_SCALE=${r.scale} DATABASE_URL=… REDIS_URL=… NATS_URL=… npm run bench -- --scale\`.`,
    '',
    `**Empty** is the migrated database holding only the probe set (the rows every read touches, identical in both runs): ${fmt(r.probe.users)} accounts and the admin in the default tenant, a ${fmt(r.probe.roster)}-member event with its attendance, a ${fmt(r.probe.bigChain)}-entry audit chain in the default tenant (so page 1,000 exists) and a ${fmt(r.probe.verifyChain)}-entry chain in the tenant \`scale-verify\` that /audit/verify re-computes, 100 tenants. **Loaded** is a copy of it (\`create database … template\`) with the bulk added: ${fmt(r.bulk.users)} users (60% in the default tenant, the rest over 99 tenants) with their profiles, ${fmt(r.bulk.sessions)} sessions with one refresh token each, ${fmt(r.bulk.audit)} audit entries (valid hash chains, half in the default tenant), ${fmt(r.bulk.attendance)} attendance records in 200-member events.`,
    '',
    summary,
    '',
    ...(r.note ? [`Note: ${r.note}`, ''] : []),
    '## Latency, empty vs loaded (ms)',
    '',
    '| read | empty p50 | empty p99 | loaded p50 | loaded p99 | p99 loaded/empty | goal ≤ 2× | server CPU ms/req empty / loaded | failed |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|',
    ...rows,
    '',
    `/audit/verify (whole chain of \`scale-verify\`): empty ${v(r.empty.verify)}; loaded ${v(r.loaded.verify)}; loaded/empty ${fmt(r.loaded.verify.entriesPerSec / r.empty.verify.entriesPerSec, 2)}×.`,
    '',
    '## EXPLAIN (ANALYZE, BUFFERS) of the statements behind each read, loaded database',
    '',
    'Captured from the services\' own query functions (Kysely `log` hook), run under the service\'s RLS context (`role gatehouse_app`, `app.tenant_id`); a Seq Scan on a table over 10,000 rows is flagged.',
    '',
    '| statement | verdict | indexes used | seq scans | empty ms | loaded ms | shared hit / read blocks |',
    '|---|---|---|---|---:|---:|---:|',
    ...explainRows,
    '',
    `## Seeding (COPY FROM STDIN; bulk: ${fmt(total)} rows in ${fmt(r.seeding.bulkSeconds)} s)`,
    '',
    'Each table: secondary indexes and its own foreign keys dropped, COPY, indexes rebuilt and keys re-validated (time includes all of it).',
    '',
    '| table | rows | seconds | rows/s |',
    '|---|---:|---:|---:|',
    ...r.seeding.bulk.map((t) => `| ${t.table} | ${fmt(t.rows)} | ${fmt(t.seconds, 1)} | ${t.rows ? fmt(t.rows / t.seconds) : '–'} |`),
    '',
    `## Sizes on disk, loaded (database ${mib(r.databaseBytes)})`,
    '',
    '| table | rows (estimate) | total | heap | indexes |',
    '|---|---:|---:|---:|---:|',
    ...r.sizes.map((s) => `| ${s.table} | ${fmt(s.rows)} | ${mib(s.totalBytes)} | ${mib(s.tableBytes)} | ${mib(s.indexBytes)} |`),
    '',
  ].join('\n');
}
