/**
 * Issue 15, alerts and dashboards as shipped in deploy/: Prometheus loads the config and its
 * rules (`promtool check config`), every alert passes its tests on synthetic series
 * (`promtool test rules`) and has a runbook entry in docs/operations.md, and every Gatehouse
 * metric that a rule or a dashboard panel queries is one the code exports.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promtool, promtoolMissing } from '../e2e/promtool';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PROMETHEUS = path.join(ROOT, 'deploy/prometheus');
const RULES = path.join(PROMETHEUS, 'rules/gatehouse.rules.yml');
const RULE_TESTS = path.join(PROMETHEUS, 'rules/gatehouse.rules.test.yml');
const DASHBOARD = path.join(ROOT, 'deploy/grafana/gatehouse.json');

/** Every .ts source file (tests excluded) under `dir`, as one string. */
async function sources(dir: string): Promise<string> {
  let out = '';
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out += await sources(p);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out += await readFile(p, 'utf8');
  }
  return out;
}

/** Metric names (`gatehouse_…`) an expression text uses, histogram suffixes removed. */
function gatehouseMetrics(text: string): Set<string> {
  return new Set([...text.matchAll(/\bgatehouse_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
}

const alertNames = (rules: string) => [...rules.matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]!);

describe('Prometheus config, alert rules and the Grafana dashboard', { skip: promtoolMissing() }, () => {
  test('promtool check config: the config is valid and loads the rules', async () => {
    const r = await promtool(['check', 'config', path.join(PROMETHEUS, 'prometheus.yml')]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS: 1 rule files found/);
  });

  test('promtool test rules: every alert fires on its synthetic series and not on the healthy ones', async () => {
    const r = await promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  test('every alert has a test, a runbook entry, and the alerts the issue asks for exist', async () => {
    const rules = await readFile(RULES, 'utf8');
    const tests = await readFile(RULE_TESTS, 'utf8');
    const docs = await readFile(path.join(ROOT, 'docs/operations.md'), 'utf8');
    const names = alertNames(rules);
    for (const wanted of [
      'GatehouseHighErrorRate',
      'GatehouseHighLatencyP99',
      'GatehouseLoginFailureSpike',
      'GatehouseRefreshTokenReuse',
      'GatehouseOutboxBacklogOld',
      'GatehouseConsumerLag',
      'GatehouseDeadLetters',
      'GatehouseDependencyDown',
    ]) {
      assert.ok(names.includes(wanted), `${wanted} is a rule`);
    }
    for (const name of names) {
      assert.match(tests, new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `${name} is tested firing`);
      assert.match(docs, new RegExp(`^### ${name}$`, 'm'), `${name} has a runbook section in docs/operations.md`);
    }
  });

  test('the rules and the dashboard query only metrics the code exports', async () => {
    const code = (await sources(path.join(ROOT, 'packages'))) + (await sources(path.join(ROOT, 'services')));
    const queried = new Set([...gatehouseMetrics(await readFile(RULES, 'utf8')), ...gatehouseMetrics(await readFile(DASHBOARD, 'utf8'))]);
    assert.ok(queried.size > 10);
    for (const name of queried) assert.ok(code.includes(`'${name}'`), `${name} is exported by some service`);
  });

  test('the dashboard: a row per service with the golden signals, every panel with a query', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { title: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    for (const service of ['gateway', 'auth', 'users', 'audit']) assert.ok(rows.some((r) => r.toLowerCase().includes(service)), `a row for ${service}: ${rows.join(', ')}`);
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) assert.ok(p.targets?.length && p.targets.every((t) => t.expr.length > 0), `${p.title} has queries`);
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const signal of ['traffic', 'errors', 'latency', 'saturation']) assert.ok(titles.includes(signal), `golden signal ${signal}`);
  });
});
