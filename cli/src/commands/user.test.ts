/**
 * `gatehouse user create` as child processes on a fresh installation; then the auth service on
 * the same database logs the account in and publishes its `user.events.created` from the outbox.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { loadConfig } from '@gatehouse/platform/config';
import type { CloudEvent } from '@gatehouse/platform/events';
import { closeSharedDeps, createSharedDeps, startService } from '@gatehouse/platform/service';
import { testLogger } from '@gatehouse/platform/testing';
import { authService } from '@gatehouse/auth';
import { natsServerMissing, startNatsServer } from '@gatehouse/test/src/e2e/nats-server';
import { cliContext, openServiceDatabase } from './migrate';
import { freshInstallation, hasStack, runCli } from './testing';

const PASSWORD = 'correct horse battery staple 7';

describe('gatehouse user create', () => {
  let install: Awaited<ReturnType<typeof freshInstallation>>;
  before(async () => {
    install = await freshInstallation();
  });
  after(async () => {
    await install?.cleanup();
  });

  test('usage errors exit 2 before touching the database', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['user'], /^Usage: gatehouse user create/],
      [['user', 'delete'], /unknown user command "delete"/],
      [['user', 'create', '--password-stdin'], /--email is required/],
      [['user', 'create', '--email', 'a@example.test'], /a password is required/],
      [['user', 'create', '--email', 'a@example.test', '--password', 'x', '--password-stdin'], /either --password or --password-stdin/],
      [['user', 'create', '--email', 'a@example.test', '--password-stdin', '--role', 'owner'], /unknown role "owner"/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, install.env, PASSWORD);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stdout + r.stderr, message);
    }
    const help = await runCli(['user', 'create', '--help'], install.env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--password-stdin/);
  });

  test('creates an admin from a password on stdin; the auth service logs it in and publishes its event', async () => {
    const email = 'first.admin@example.test';
    const r = await runCli(['user', 'create', '--email', email, '--password-stdin', '--admin', '--display-name', 'First Admin'], install.env, `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    const m = /^created user ([0-9a-f-]{36}) <first\.admin@example\.test> in tenant "default" with roles user, admin\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const id = m[1]!;

    // Refusals: each exits 1 with the reason and code, no stack.
    const refusals: Array<[string[], string | undefined, RegExp]> = [
      [['--email', email.toUpperCase(), '--password-stdin'], PASSWORD, /\(email_taken\)/],
      [['--email', 'weak@example.test', '--password', 'password'], undefined, /\(weak_password\)/],
      [['--email', 'other@example.test', '--password-stdin', '--tenant', 'nope'], PASSWORD, /tenant "nope" not found/],
    ];
    for (const [args, stdin, message] of refusals) {
      const refused = await runCli(['user', 'create', ...args], install.env, stdin);
      assert.equal(refused.code, 1, `${args.join(' ')}: ${refused.stdout}`);
      assert.match(refused.stderr, message);
      assert.equal(hasStack(refused.stderr), false, refused.stderr);
    }

    // Embedded transport: the event waits in the auth outbox for the service.
    const ctx = cliContext({ ...install.env, LOG_LEVEL: 'silent' });
    const { db } = await openServiceDatabase(ctx, 'auth');
    const pending = await db.admin.selectFrom('outbox').select(['subject', 'payload']).where('published_at', 'is', null).execute();
    await db.close();
    assert.deepEqual(pending.map((p) => p.subject), ['user.events.created'], 'one event, for the one account created');

    const config = loadConfig({ ...install.env, LOG_LEVEL: 'silent' });
    const shared = await createSharedDeps(config, testLogger);
    const seen: CloudEvent[] = [];
    const sub = await shared.transport.subscribe({ durable: 'cli-test', subjects: ['user.events.>'], handler: async (e) => void seen.push(e) });
    const auth = await startService(authService, config, shared);
    try {
      const login = await auth.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { [TENANT_HEADER]: DEFAULT_TENANT_ID },
        payload: { email, password: PASSWORD },
      });
      assert.equal(login.statusCode, 200, login.body);
      assert.equal(login.json().user.id, id);
      assert.deepEqual(login.json().user.roles, ['user', 'admin']);
      assert.equal(login.json().user.displayName, 'First Admin');
      for (let i = 0; i < 100 && !seen.some((e) => e.type === 'user.events.created'); i++) await sleep(50);
      const created = seen.filter((e) => e.type === 'user.events.created');
      assert.equal(created.length, 1, 'the relay published the event the CLI left in the outbox');
      assert.equal((created[0]!.data as { id: string }).id, id);
    } finally {
      await sub.stop();
      await auth.close();
      await closeSharedDeps(shared);
    }
  });

  test('with NATS_URL the event is published at once (own nats-server)', { skip: natsServerMissing() }, async () => {
    const nats = await startNatsServer();
    try {
      const r = await runCli(['user', 'create', '--email', 'nats.user@example.test', '--password-stdin', '--role', 'organizer'], { ...install.env, NATS_URL: nats.url }, PASSWORD);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /with roles user, organizer\n$/);
      assert.equal(r.stderr, '', 'no warning: nothing left in the outbox');
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const msg = await jsm.streams.getMessage('GATEHOUSE', { last_by_subj: 'user.events.created' });
        const event = msg!.json<CloudEvent<{ email: string; roles: string[] }>>();
        assert.equal(event.data.email, 'nats.user@example.test');
        assert.deepEqual(event.data.roles, ['user', 'organizer']);
        assert.equal(msg!.header?.get('Nats-Msg-Id'), event.id);
      } finally {
        await nc.close();
      }
    } finally {
      await nats.close();
    }
  });
});
