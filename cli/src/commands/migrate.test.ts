/**
 * `gatehouse migrate` as an operator runs it (a child process) on a fresh installation:
 * embedded (PGlite under DATA_DIR) or a new PostgreSQL database when the run has one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshInstallation, hasStack, runCli } from './testing';

describe('gatehouse migrate', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install?.cleanup();
  });

  test('the command list names every operator command; migrate --help its options', async () => {
    const top = await runCli(['--help'], {});
    assert.equal(top.code, 0, top.stderr);
    for (const name of ['start', 'migrate', 'user', 'keys', 'audit']) assert.match(top.stdout, new RegExp(`^  ${name} `, 'm'));
    const help = await runCli(['migrate', '--help'], {});
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: gatehouse migrate/);
    assert.match(help.stdout, /--service/);
  });

  test('applies every service migration once, then says each is up to date', async () => {
    const first = await runCli(['migrate'], install.env);
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(':')[0]), ['auth', 'users', 'audit']);
    for (const line of lines) assert.match(line, /: applied 0000_platform\.sql, 0001_init\.sql/);
    const again = await runCli(['migrate'], install.env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'auth: up to date\nusers: up to date\naudit: up to date\n');
    const one = await runCli(['migrate', '--service', 'audit'], install.env);
    assert.equal(one.stdout, 'audit: up to date\n');
  });

  test('bad usage exits 2 with the reason; bad configuration and an unreachable database exit 1 with a message, no stack', async () => {
    const badService = await runCli(['migrate', '--service', 'billing'], install.env);
    assert.equal(badService.code, 2);
    assert.match(badService.stderr, /--service must be one of auth, users, audit, got "billing"/);
    const badFlag = await runCli(['migrate', '--force'], install.env);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Unknown option '--force'/);
    assert.match(badFlag.stderr, /Usage: gatehouse migrate/);

    const badUrl = await runCli(['migrate'], { ...install.env, DATABASE_URL: 'not a url' });
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /DATABASE_URL must be a URL/);
    assert.equal(hasStack(badUrl.stderr), false, badUrl.stderr);

    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const down = await runCli(['migrate'], { ...install.env, DATABASE_URL: 'postgres://gatehouse@127.0.0.1:1/gatehouse', GATEHOUSE_SECRET: 'x'.repeat(32) });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^gatehouse: auth \(PostgreSQL postgres:\/\/gatehouse@127\.0\.0\.1:1\/gatehouse \(schema auth\)\): migration failed: /);
    assert.equal(hasStack(down.stderr), false, down.stderr);
  });
});
