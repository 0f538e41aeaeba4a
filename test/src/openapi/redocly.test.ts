/**
 * The public OpenAPI document (`GET /openapi.json` of a started system, merged and normalized
 * by the gateway's docs module) linted by Redocly's CLI with its `recommended` ruleset: no
 * errors. Warnings are printed as diagnostics and limited to the known, listed ones
 * (docs/integrate.md "OpenAPI document" says why each stays).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BASE_DOMAIN, startTestSystem, type TestSystem } from '../system';

const run = promisify(execFile);
const redoclyBin = path.join(path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

/** Warnings of the recommended ruleset that remain, by rule id (see docs/integrate.md). */
const KNOWN_WARNINGS = new Set([
  'info-license', // the project has not chosen a license; none is invented here
  'operation-2xx-response', // the two OAuth redirect endpoints answer 302 by design
]);

interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location?: { pointer?: string }[];
}

describe('OpenAPI: redocly lint --extends=recommended', () => {
  let s: TestSystem;
  let dir: string;
  before(async () => {
    s = await startTestSystem({ baseDomain: BASE_DOMAIN });
    dir = await mkdtemp(path.join(tmpdir(), 'gh-openapi-'));
  });
  after(async () => {
    await s?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the served document has no errors and only the known warnings', async (t) => {
    const res = await s.fetch('/openapi.json');
    assert.equal(res.status, 200);
    const doc = await res.json();
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));

    // redocly exits 1 when there are errors; the JSON report is on stdout either way
    const out = await run(process.execPath, [redoclyBin, 'lint', '--extends=recommended', '--format=json', file], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
    const report = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as { totals: { errors: number; warnings: number }; problems: LintProblem[] };
    const where = (p: LintProblem) => `${p.severity} ${p.ruleId} ${p.location?.[0]?.pointer ?? ''}: ${p.message}`;
    for (const p of report.problems) t.diagnostic(where(p));
    t.diagnostic(`redocly: ${report.totals.errors} errors, ${report.totals.warnings} warnings`);

    assert.deepEqual(report.problems.filter((p) => p.severity === 'error').map(where), []);
    assert.deepEqual(report.problems.filter((p) => !KNOWN_WARNINGS.has(p.ruleId)).map(where), []);
  });

  test('every operation: an operationId, security, problem+json errors by $ref; named components', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- reads arbitrary fields of the document
    const doc: any = await (await s.fetch('/openapi.json')).json();
    const ids = new Set<string>();
    let count = 0;
    for (const [p, item] of Object.entries<Record<string, Record<string, unknown>>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        count++;
        assert.equal(typeof op.operationId, 'string', `${method} ${p}`);
        assert.ok(!ids.has(op.operationId as string), `unique operationId ${op.operationId as string}`);
        ids.add(op.operationId as string);
        assert.ok(Array.isArray(op.security), `${method} ${p} declares security`);
        for (const [status, r] of Object.entries(op.responses as Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>)) {
          if (!/^[45]/.test(status)) continue;
          assert.deepEqual(Object.keys(r.content ?? {}), ['application/problem+json'], `${method} ${p} ${status}`);
          assert.equal(r.content?.['application/problem+json']?.schema?.$ref, '#/components/schemas/Problem');
        }
        const body = (op.requestBody as { content?: Record<string, { example?: unknown }> } | undefined)?.content?.['application/json'];
        if (body) assert.ok(body.example !== undefined, `${method} ${p} has a request body example`);
      }
    }
    assert.ok(count >= 60, `${count} operations`);
    assert.ok(doc.components.schemas.Problem);
    assert.deepEqual(Object.keys(doc.components.schemas).filter((n) => /def-\d/.test(n)), []);
    // the ids of well-known operations, which the SDK and docs use
    assert.equal(doc.paths['/api/v1/auth/login'].post.operationId, 'postAuthLogin');
    assert.deepEqual(doc.paths['/api/v1/auth/login'].post.security, []);
    const problems = JSON.stringify(doc).split('"detail":{"type":"string"}').length - 1;
    assert.equal(problems, 1, 'the problem schema is defined once');
  });
});
