#!/usr/bin/env node
// `npm test`: runs every *.test.ts under packages/, services/, cli/ and test/ with the Node
// test runner (TypeScript through tsx), against real PostgreSQL/Redis/NATS when they answer
// and embedded backends (PGlite, memory, in-process events) when they do not.
//
//   npm test                          auto: use local servers that answer, embed the rest
//   npm test -- services/auth         only files whose path contains "services/auth"
//   npm test -- --test-name-pattern=login   flags starting with "-" go to `node --test`
//   GATEHOUSE_TEST_SERVERS=require    CI: all three servers must answer, else fail
//   GATEHOUSE_TEST_SERVERS=embedded   never touch local servers
//   TEST_CONCURRENCY=3                test files run at once (default 3: tests are I/O bound)
//   TEST_TIMEOUT_MS=300000            per-test timeout for the runner
//   GATEHOUSE_TEST_TOTAL_MINUTES=60   the whole run is stopped after this long
//
// Contract with the test files: they read TEST_DATABASE_URL (a PostgreSQL URL to a database
// from which they may create others; unset = PGlite), TEST_REDIS_URL (unset = memory) and
// TEST_NATS_URL (unset = in-process transport). This script sets or clears them.

// First: refuses, in one line, a Node.js older than package.json "engines" (before anything else loads).
import './check-node.mjs';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_ROOTS = ['packages', 'services', 'cli', 'test'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', 'coverage', '.tmp', '.git']);
const env = process.env;

function fail(message) {
  console.error(`tests: ${message}`);
  process.exit(1);
}


// ---------------------------------------------------------------------------------------------
// Arguments: plain words filter files by path, anything starting with "-" goes to node --test.

/** node --test flags that take their value as the next argument when written without "=". */
const FLAGS_WITH_VALUE = new Set([
  '--test-name-pattern', '--test-skip-pattern', '--test-timeout', '--test-concurrency',
  '--test-reporter', '--test-reporter-destination', '--test-shard', '--import', '--require',
  '--conditions', '-C', '--test-coverage-include', '--test-coverage-exclude',
]);

const nodeFlags = [];
const filters = [];
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') continue;
    if (arg.startsWith('-')) {
      nodeFlags.push(arg);
      if (FLAGS_WITH_VALUE.has(arg) && i + 1 < args.length) nodeFlags.push(args[++i]);
    } else {
      filters.push(arg);
    }
  }
}
const hasFlag = (name) => nodeFlags.some((f) => f === name || f.startsWith(`${name}=`));

// ---------------------------------------------------------------------------------------------
// Test files.

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) walk(path.join(dir, entry.name), out);
    } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      out.push(path.relative(root, path.join(dir, entry.name)).split(path.sep).join('/'));
    }
  }
  return out;
}

function matchesFilter(file, filter) {
  const abs = path.resolve(filter);
  let normal = path.relative(root, abs).split(path.sep).join('/');
  if (normal.startsWith('..')) normal = filter.replace(/\\/g, '/');
  normal = normal.replace(/^\.\//, '').replace(/\/+$/, '');
  return normal === '' || file.includes(normal);
}

const allFiles = TEST_ROOTS.flatMap((dir) => walk(path.join(root, dir), [])).sort();
// Black-box suites under test/ are the slowest: start them first so they do not trail at the end.
allFiles.sort((a, b) => Number(b.startsWith('test/')) - Number(a.startsWith('test/')));

const files = filters.length ? allFiles.filter((f) => filters.some((flt) => matchesFilter(f, flt))) : allFiles;
if (allFiles.length === 0) fail(`no *.test.ts files found under ${TEST_ROOTS.join('/, ')}/ — nothing was tested.`);
if (files.length === 0) fail(`no test file matches ${filters.map((f) => JSON.stringify(f)).join(', ')} (${allFiles.length} files exist).`);

// ---------------------------------------------------------------------------------------------
// Backends: probe local servers (or those named in TEST_*_URL).

const mode = (env.GATEHOUSE_TEST_SERVERS || 'auto').toLowerCase();
if (!['auto', 'require', 'embedded'].includes(mode)) {
  fail(`GATEHOUSE_TEST_SERVERS=${env.GATEHOUSE_TEST_SERVERS} is not one of auto, require, embedded.`);
}

const hostPort = (url, defaultPort) => {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || defaultPort}`;
  } catch {
    return '(unparsable URL)';
  }
};

const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref()),
  ]);

function tcpProbe(url, defaultPort, timeoutMs) {
  const u = new URL(url);
  const host = (u.hostname || '127.0.0.1').replace(/^\[|\]$/g, '');
  const port = Number(u.port || defaultPort);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (err) => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no TCP answer within ${timeoutMs} ms`)));
    socket.once('connect', () => done());
    socket.once('error', (err) => done(new Error(`TCP connect: ${err.code ?? err.message}`)));
  });
}

async function pgProbe(url, timeoutMs) {
  await tcpProbe(url, 5432, timeoutMs);
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs * 4 });
  client.on('error', () => {});
  try {
    await withTimeout(client.connect(), timeoutMs * 4, 'PostgreSQL connect');
    const res = await withTimeout(client.query('select 1 as ok, current_setting(\'server_version\') as version'), timeoutMs * 4, 'PostgreSQL select 1');
    if (res.rows[0]?.ok !== 1) throw new Error('select 1 did not return 1');
    return `PostgreSQL ${res.rows[0].version}`;
  } finally {
    client.end().catch(() => {});
  }
}

async function redisProbe(url, timeoutMs) {
  await tcpProbe(url, 6379, timeoutMs);
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs * 4,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await withTimeout(redis.connect(), timeoutMs * 4, 'Redis connect');
    const pong = await withTimeout(redis.ping(), timeoutMs * 4, 'Redis PING');
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    return 'Redis';
  } finally {
    redis.disconnect();
  }
}

async function natsProbe(url, timeoutMs) {
  await tcpProbe(url, 4222, timeoutMs);
  const { connect } = await import('@nats-io/transport-node');
  const nc = await withTimeout(connect({ servers: url, timeout: timeoutMs * 4, reconnect: false }), timeoutMs * 5, 'NATS connect');
  try {
    const info = nc.info;
    if (info && info.jetstream === false) throw new Error('the server answers but JetStream is not enabled (start nats-server with -js)');
    return `NATS ${info?.version ?? ''}`.trim();
  } finally {
    await nc.close().catch(() => {});
  }
}

const osUser = (() => {
  try {
    return os.userInfo().username;
  } catch {
    return 'root';
  }
})();
const pgDefaults = [...new Set([osUser, 'root'])].map((user) => `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/postgres`);

const BACKENDS = [
  { key: 'TEST_DATABASE_URL', name: 'PostgreSQL', port: 5432, defaults: pgDefaults, probe: pgProbe, embedded: 'PGlite' },
  { key: 'TEST_REDIS_URL', name: 'Redis', port: 6379, defaults: ['redis://127.0.0.1:6379'], probe: redisProbe, embedded: 'memory' },
  { key: 'TEST_NATS_URL', name: 'NATS', port: 4222, defaults: ['nats://127.0.0.1:4222'], probe: natsProbe, embedded: 'in-process events' },
];

/** Tries the explicit URL (or each default) until one answers; returns { url } or { error }. */
async function resolveBackend(backend, { attempts, timeoutMs }) {
  const explicit = env[backend.key];
  const candidates = explicit ? [explicit] : backend.defaults;
  let lastError;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    for (const url of candidates) {
      try {
        const label = await backend.probe(url, timeoutMs);
        return { url, label, explicit: Boolean(explicit) };
      } catch (err) {
        lastError = `${hostPort(url, backend.port)}: ${err?.message ?? err}`;
      }
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, 1000));
  }
  return { error: lastError, explicit: Boolean(explicit), url: candidates[0] };
}

const childEnv = { ...env };
if (mode === 'embedded') {
  for (const b of BACKENDS) delete childEnv[b.key];
  console.log('tests: embedded backends (PGlite, memory, in-process events) — GATEHOUSE_TEST_SERVERS=embedded');
} else {
  const required = mode === 'require';
  const results = await Promise.all(
    BACKENDS.map((b) => resolveBackend(b, required ? { attempts: 10, timeoutMs: 1000 } : { attempts: 1, timeoutMs: 300 })),
  );
  const problems = [];
  const parts = [];
  BACKENDS.forEach((b, i) => {
    const r = results[i];
    if (r.url && !r.error) {
      childEnv[b.key] = r.url;
      parts.push(`${b.name} ${hostPort(r.url, b.port)}`);
    } else if (required || r.explicit) {
      problems.push(`${b.name} (${r.explicit ? b.key : 'local default'}) is unreachable — ${r.error}`);
    } else {
      delete childEnv[b.key];
      parts.push(null);
    }
  });
  if (problems.length) {
    for (const p of problems) console.error(`tests: ${p}`);
    fail(
      required
        ? 'GATEHOUSE_TEST_SERVERS=require but not every server answers; start them (see shared/MACHINE.md) or unset GATEHOUSE_TEST_SERVERS.'
        : 'a server named in TEST_*_URL does not answer; fix the URL or unset it.',
    );
  }
  if (parts.every((p) => p === null)) {
    console.log('tests: embedded backends (PGlite, memory, in-process events) — set up PostgreSQL/Redis/NATS to test against real servers');
  } else {
    const line = BACKENDS.map((b, i) => parts[i] ?? `${b.embedded} instead of ${b.name} (nothing at ${hostPort(b.defaults[0], b.port)})`).join(', ');
    console.log(`tests: ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Run.

const concurrency = Number(env.TEST_CONCURRENCY) > 0 ? Number(env.TEST_CONCURRENCY) : 3;
const testTimeoutMs = Number(env.TEST_TIMEOUT_MS) > 0 ? Number(env.TEST_TIMEOUT_MS) : 5 * 60_000;
const totalMinutes = Number(env.GATEHOUSE_TEST_TOTAL_MINUTES) > 0 ? Number(env.GATEHOUSE_TEST_TOTAL_MINUTES) : 60;

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
const tapFile = path.join(tmpDir, 'report.tap');

const runnerArgs = [
  '--import', 'tsx',
  '--test',
  ...(hasFlag('--test-concurrency') ? [] : [`--test-concurrency=${concurrency}`]),
  ...(hasFlag('--test-timeout') ? [] : [`--test-timeout=${testTimeoutMs}`]),
  // A file that leaves a handle open (a pool, a timer) must not hold the run forever.
  '--test-force-exit',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...nodeFlags,
  ...files,
];

console.log(
  `tests: ${files.length} file${files.length === 1 ? '' : 's'}${filters.length ? ` matching ${filters.join(' ')}` : ''}, ` +
    `concurrency ${concurrency}, per-test timeout ${Math.round(testTimeoutMs / 1000)} s, node ${process.versions.node}`,
);

const started = Date.now();
// Its own process group, so a stop reaches the test files' processes and what they started.
const child = spawn(process.execPath, runnerArgs, { cwd: root, env: childEnv, stdio: 'inherit', detached: process.platform !== 'win32' });

const killGroup = (signal) => {
  try {
    if (process.platform !== 'win32') process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
};
let timedOut = false;
const watchdog = setTimeout(() => {
  timedOut = true;
  console.error(`\ntests: the run passed ${totalMinutes} minutes (GATEHOUSE_TEST_TOTAL_MINUTES); stopping it.`);
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
}, totalMinutes * 60_000);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killGroup(signal);
    setTimeout(() => killGroup('SIGKILL'), 5_000).unref();
  });
}

const { code, signal } = await new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
clearTimeout(watchdog);

// ---------------------------------------------------------------------------------------------
// Closing lines: the runner's own summary (from the TAP report) and one plain count line.

let tap = '';
try {
  tap = fs.readFileSync(tapFile, 'utf8');
} catch {
  // the runner died before writing anything
}
fs.rmSync(tmpDir, { recursive: true, force: true });

const summary = {};
const summaryLines = [];
for (const line of tap.split('\n')) {
  const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/.exec(line);
  if (m) {
    if (m[1] === 'tests') summaryLines.length = 0;
    summary[m[1]] = Number(m[2]);
    summaryLines.push(line);
  }
}

let passed, failed, skipped;
if ('tests' in summary && 'pass' in summary) {
  passed = summary.pass;
  failed = (summary.fail ?? 0) + (summary.cancelled ?? 0);
  skipped = (summary.skipped ?? 0) + (summary.todo ?? 0);
} else {
  // No summary (the runner was killed or crashed): count the test points the report has.
  passed = failed = skipped = 0;
  const lines = tap.split('\n');
  lines.forEach((line, i) => {
    const m = /^\s*(not ok|ok) \d+ - .*?(# (SKIP|TODO)\b.*)?$/.exec(line);
    if (!m) return;
    const yaml = lines.slice(i + 1, i + 6).join('\n');
    if (/type: 'suite'/.test(yaml)) return;
    if (m[3]) skipped++;
    else if (m[1] === 'ok') passed++;
    else failed++;
  });
  console.log(`\ntests: the runner ended without its summary (exit ${code ?? signal}); counts below are from the partial report.`);
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`\ntests: ran ${files.length} file${files.length === 1 ? '' : 's'} in ${seconds} s`);
for (const line of summaryLines) console.log(line);

let exitCode = code ?? 1;
if (timedOut || signal) exitCode = exitCode || 1;
if (passed + failed === 0) {
  console.log('tests: no test was executed — failing the run.');
  exitCode = exitCode || 1;
} else if (exitCode !== 0 && failed === 0) {
  // Nonzero exit without a failing test (a crash, a stop, a bad flag) must not read as green.
  console.log(`tests: the runner exited with ${code ?? signal} although no test failed; counting that as one failure.`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(exitCode);
