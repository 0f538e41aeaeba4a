/**
 * `gatehouse keys list | rotate` as child processes on a fresh installation, and what a
 * rotation means to the auth service afterwards: both keys in its JWKS, new tokens signed
 * with the new one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtectedHeader } from 'jose';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { loadConfig } from '@gatehouse/platform/config';
import { closeSharedDeps, createSharedDeps, startService } from '@gatehouse/platform/service';
import { testLogger } from '@gatehouse/platform/testing';
import { authService } from '@gatehouse/auth';
import { freshInstallation, hasStack, runCli } from './testing';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('gatehouse keys', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install?.cleanup();
  });

  test('usage: no or an unknown subcommand exits 2; --help exits 0', async () => {
    const none = await runCli(['keys'], install.env);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /a keys command is required/);
    const unknown = await runCli(['keys', 'delete'], install.env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown keys command "delete"/);
    const help = await runCli(['keys', '--help'], install.env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: gatehouse keys <command>/);
  });

  test('list on a database never migrated: exit 1 with the hint to migrate', async () => {
    const r = await runCli(['keys', 'list'], install.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run "gatehouse migrate" first/);
    assert.equal(hasStack(r.stderr), false, r.stderr);
  });

  test('rotate twice: the newest key is current, the first retired but still published; the auth service signs with the newest', async () => {
    const first = await runCli(['keys', 'rotate'], install.env);
    assert.equal(first.code, 0, first.stderr);
    const kid1 = first.stdout.trim();
    assert.match(kid1, UUID, 'stdout is the new kid alone (for scripts)');
    const listed = await runCli(['keys', 'list', '--json'], install.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Array<{ kid: string; status: string }>).map((k) => [k.kid, k.status]),
      [[kid1, 'current']],
    );

    const second = await runCli(['keys', 'rotate'], install.env);
    assert.equal(second.code, 0, second.stderr);
    const kid2 = second.stdout.trim();
    assert.notEqual(kid2, kid1);
    const both = JSON.parse((await runCli(['keys', 'list', '--json'], install.env)).stdout) as Array<{
      kid: string;
      status: string;
      retiredAt: string | null;
      publishedUntil: string | null;
    }>;
    assert.deepEqual(both.map((k) => [k.kid, k.status]), [[kid2, 'current'], [kid1, 'retired']]);
    // retired keys stay published for max(access TTL, 1 h) + 5 min = 3900 s by default
    const old = both[1]!;
    assert.equal(Date.parse(old.publishedUntil!) - Date.parse(old.retiredAt!), 3900 * 1000);
    const table = await runCli(['keys', 'list'], install.env);
    assert.match(table.stdout, /^KID\s+ALG\s+CREATED\s+STATUS$/m);
    assert.match(table.stdout, new RegExp(`^${kid2}\\s+RS256\\s+\\S+\\s+current$`, 'm'));
    assert.match(table.stdout, new RegExp(`^${kid1}\\s+RS256\\s+\\S+\\s+retired, published until `, 'm'));

    // The service over the same database and secret: it publishes both and signs with the newest.
    const config = loadConfig({ ...install.env, LOG_LEVEL: 'silent' });
    const shared = await createSharedDeps(config, testLogger);
    const auth = await startService(authService, config, shared);
    try {
      const jwks = await auth.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      assert.deepEqual(new Set((jwks.json().keys as Array<{ kid: string }>).map((k) => k.kid)), new Set([kid1, kid2]));
      const reg = await auth.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        // what the gateway adds: the resolved tenant
        headers: { [TENANT_HEADER]: DEFAULT_TENANT_ID },
        payload: { email: 'keys-cli@example.test', password: 'correct horse battery staple 7' },
      });
      assert.equal(reg.statusCode, 201, reg.body);
      assert.equal(decodeProtectedHeader(reg.json().accessToken as string).kid, kid2);
    } finally {
      await auth.close();
      await closeSharedDeps(shared);
    }
  });

  test('rotate with PostgreSQL and no GATEHOUSE_SECRET: exit 1, says why, changes nothing', async (t) => {
    if (!install.postgres) {
      t.skip('PostgreSQL only (embedded mode keeps a generated secret under DATA_DIR)');
      return;
    }
    const before = JSON.parse((await runCli(['keys', 'list', '--json'], install.env)).stdout) as unknown[];
    const r = await runCli(['keys', 'rotate'], { ...install.env, GATEHOUSE_SECRET: undefined });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GATEHOUSE_SECRET is required/);
    const afterList = JSON.parse((await runCli(['keys', 'list', '--json'], install.env)).stdout) as unknown[];
    assert.equal(afterList.length, before.length);
  });
});
