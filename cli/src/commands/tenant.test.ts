/**
 * `gatehouse tenant …` as an operator runs it (a child process): on a fresh installation
 * (embedded PGlite, or a new PostgreSQL database), and next to a running auth service on
 * PostgreSQL + Redis, where a disable must reach the running service's tokens at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { testServers } from '@gatehouse/platform/testing';
import { startAuth, type Harness } from '@gatehouse/auth/testing';
import { freshInstallation, hasStack, runCli } from './testing';

const slug = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

describe('gatehouse tenant on a fresh installation', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install.cleanup();
  });

  test('create (with its first admin), list, show, disable, enable; refusals exit 1 with the reason and no stack', async () => {
    const acme = slug('acme');
    const created = await runCli(
      ['tenant', 'create', acme, '--name', 'Acme Corp', '--settings', '{"passwordMinLength":12}', '--admin-email', `boss@${acme}.example`, '--admin-password-stdin'],
      install.env,
      'correct horse battery staple 7\n',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`created tenant ${acme} \\([0-9a-f-]{36}\\) with admin boss@${acme}.example`));

    // slug and settings are checked before the database is opened, so these may run together;
    // the two that need the database run one at a time (PGlite has one user at a time)
    const [reserved, invalid, badSettings] = await Promise.all([
      runCli(['tenant', 'create', 'www', '--name', 'x'], install.env),
      runCli(['tenant', 'create', 'not_a_label', '--name', 'x'], install.env),
      runCli(['tenant', 'create', slug('bad'), '--name', 'x', '--settings', '{"passwordMinLength":4,"nope":1}'], install.env),
    ]);
    const taken = await runCli(['tenant', 'create', acme.toUpperCase(), '--name', 'again'], install.env);
    const defaultTenant = await runCli(['tenant', 'disable', 'default'], install.env);
    const refused = [reserved, invalid, badSettings, taken, defaultTenant];
    for (const r of refused) {
      assert.equal(r.code, 1, r.stderr);
      assert.ok(!hasStack(r.stderr), r.stderr);
    }
    assert.match(reserved!.stderr, /reserved_slug/);
    assert.match(invalid!.stderr, /invalid_slug/);
    assert.match(taken.stderr, /slug_taken/);
    assert.match(badSettings!.stderr, /validation_failed/);
    assert.match(badSettings!.stderr, /settings\.passwordMinLength: /);
    assert.match(badSettings!.stderr, /settings\.nope: is not a setting/);
    assert.match(defaultTenant.stderr, /default_tenant/);

    const disabled = await runCli(['tenant', 'disable', acme], install.env);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, new RegExp(`tenant ${acme} is disabled`));
    const shown = await runCli(['tenant', 'show', acme, '--json'], install.env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).status, 'disabled');
    assert.deepEqual(JSON.parse(shown.stdout).settings, { passwordMinLength: 12 });

    const enabled = await runCli(['tenant', 'enable', acme], install.env);
    assert.equal(enabled.code, 0, enabled.stderr);
    const list = await runCli(['tenant', 'list', '--json'], install.env);
    assert.equal(list.code, 0, list.stderr);
    const tenants = JSON.parse(list.stdout) as Array<{ slug: string; status: string }>;
    assert.deepEqual(
      tenants.map((t) => [t.slug, t.status]),
      [
        ['default', 'active'],
        [acme, 'active'],
      ],
    );
    const text = await runCli(['tenant', 'list'], install.env);
    assert.match(text.stdout, /^SLUG\s+STATUS\s+ID\s+CREATED\s+NAME\n/);
    assert.match(text.stdout, new RegExp(`\\n${acme}\\s+active\\s+[0-9a-f-]{36}\\s+\\S+ \\S+\\s+Acme Corp\\n`));
  });

  test('bad usage exits 2 with the help; --help exits 0', async () => {
    // none of these opens the database, so they may run together
    const results = await Promise.all([
      runCli(['tenant'], install.env),
      runCli(['tenant', 'create', slug('x')], install.env),
      runCli(['tenant', 'frobnicate'], install.env),
      runCli(['tenant', 'create', slug('x'), '--name', 'n', '--settings', 'not json'], install.env),
      runCli(['tenant', 'list', '--status', 'gone'], install.env),
    ]);
    for (const r of results) {
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /Usage: gatehouse tenant/);
    }
    const help = await runCli(['tenant', '--help'], install.env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /disable <slug>/);
  });
});

const besideDeployment = testServers.databaseUrl && testServers.redisUrl
  ? false
  : 'needs TEST_DATABASE_URL and TEST_REDIS_URL: an embedded (PGlite) deployment cannot be opened by a second process while it runs, and without Redis the revocation has no way to another process';

describe('gatehouse tenant next to a running deployment', { skip: besideDeployment }, () => {
  let h: Harness;
  before(async () => {
    h = await startAuth();
  });
  after(async () => {
    await h?.close();
  });

  test("disable: the running service refuses the tenant's tokens by the time the command returns, and publishes its event", async () => {
    const t = await h.createTenant('active');
    const u = await h.register({ tenant: t.id });
    assert.equal((await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: u.accessToken })).statusCode, 200);
    const env = { DATABASE_URL: h.config.databaseUrl, REDIS_URL: h.config.redisUrl, GATEHOUSE_SECRET: h.config.secret, DATA_DIR: h.config.dataDir };
    const r = await runCli(['tenant', 'disable', t.slug], env);
    assert.equal(r.code, 0, r.stderr);
    const me = await h.request('GET', '/api/v1/auth/me', { tenant: t.id, token: u.accessToken });
    assert.equal(me.statusCode, 401, 'the revocation reached the running process through Redis');
    const login = await h.request('POST', '/api/v1/auth/login', { tenant: t.id, body: { email: u.email, password: u.password } });
    assert.equal(login.json().code, 'tenant_not_found');
    // the command wrote the event to the outbox; the running service's relay publishes it
    const deadline = Date.now() + 5000;
    let published: Date | null = null;
    while (!published && Date.now() < deadline) {
      const row = await h.deps.db.admin
        .selectFrom('outbox')
        .select(['published_at', 'payload'])
        .where('subject', '=', 'tenant.events.updated')
        .execute();
      published = (row.find((x) => JSON.stringify(x.payload).includes(t.id))?.published_at as Date | null) ?? null;
      if (!published) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(published, 'tenant.events.updated was published by the running relay');
  });
});
