/**
 * `gatehouse user create`: creates an account with the auth service's own code path
 * (`createUserAccount`: password policy, argon2id, the row and its `user.events.created` in one
 * transaction), e.g. the first admin of a tenant before anyone can log in.
 */
import { parseArgs } from 'node:util';
import type { EventTransport } from '@gatehouse/platform/events';
import { cliContext, describeDatabase, failureMessage, openServiceDatabase, parseOrUsage, type CliContext } from './migrate';

const ROLES = ['user', 'organizer', 'admin', 'superadmin'];

const HELP = `Usage: gatehouse user create --email <email> (--password-stdin | --password <password>) [options]

Creates a user account in the auth service's database, with the same password policy and
hashing as sign-up. The auth database is migrated first when it is new, so this works before
the first start (e.g. to create the first admin).

Options:
  --email <email>          the account's e-mail address (required)
  --password-stdin         read the password from standard input (one trailing newline is dropped)
  --password <password>    the password on the command line (visible to other local users
                           in the process list; prefer --password-stdin)
  --admin                  give the account the admin role of its tenant
  --role <role>            another role (user, organizer, admin, superadmin); repeatable
  --tenant <slug>          the tenant (default: "default")
  --username <name>        an optional username
  --display-name <name>    an optional display name
  -h, --help               show this help

The account's user.events.created event is published to NATS at once when NATS_URL is set;
otherwise it waits in the auth outbox and the auth service publishes it when it runs.
Exit status: 0 created; 1 refused (weak password, address taken, unknown tenant) or failed; 2 bad usage.
`;

/** Reads stdin to its end; drops one trailing newline (what `echo` and here-strings add). */
async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `gatehouse user <subcommand>`; returns the exit code. */
export async function user(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'create') {
    process.stderr.write(`gatehouse: unknown user command "${sub}"\n\n${HELP}`);
    return 2;
  }
  const parsed = parseOrUsage(
    () =>
      parseArgs({
        args: rest,
        options: {
          email: { type: 'string' },
          password: { type: 'string' },
          'password-stdin': { type: 'boolean' },
          admin: { type: 'boolean' },
          role: { type: 'string', multiple: true },
          tenant: { type: 'string' },
          username: { type: 'string' },
          'display-name': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
      }),
    HELP,
  );
  if (!parsed) return 2;
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const usageError = (message: string) => {
    process.stderr.write(`gatehouse: ${message}\n\n${HELP}`);
    return 2;
  };
  if (!v.email) return usageError('--email is required');
  if (v.password !== undefined && v['password-stdin']) return usageError('give either --password or --password-stdin, not both');
  if (v.password === undefined && !v['password-stdin']) return usageError('a password is required: --password-stdin (recommended) or --password');
  const roles = ['user', ...(v.admin ? ['admin'] : []), ...(v.role ?? [])];
  const unknown = roles.filter((r) => !ROLES.includes(r));
  if (unknown.length) return usageError(`unknown role ${unknown.map((r) => `"${r}"`).join(', ')} (roles: ${ROLES.join(', ')})`);
  const password = v.password ?? (await readPasswordFromStdin());
  if (password === '') {
    process.stderr.write('gatehouse: the password is empty\n');
    return 1;
  }

  const ctx = cliContext();
  return createAccount(ctx, {
    email: v.email,
    password,
    roles: [...new Set(roles)],
    tenantSlug: v.tenant ?? 'default',
    username: v.username,
    displayName: v['display-name'],
  });
}

async function createAccount(
  ctx: CliContext,
  input: { email: string; password: string; roles: string[]; tenantSlug: string; username?: string; displayName?: string },
): Promise<number> {
  let opened: Awaited<ReturnType<typeof openServiceDatabase>>;
  try {
    opened = await openServiceDatabase(ctx, 'auth', { migrate: true });
  } catch (err) {
    process.stderr.write(`gatehouse: cannot open the auth database (${describeDatabase(ctx.config, 'auth')}): ${failureMessage(err)}\n`);
    return 1;
  }
  const { db } = opened;
  // Loaded here, not at the top: usage errors and --help answer without loading the auth service.
  const [{ createNatsTransport, createOutboxRelay, createMemoryTransport }, { createUserAccount, findTenant }] = await Promise.all([
    import('@gatehouse/platform/events'),
    import('@gatehouse/auth/operations'),
  ]);
  // The event is published below (NATS) or left in the outbox for the auth service's relay:
  // no relay runs before that (an in-process transport would mark it published to no one).
  let transport: EventTransport = createMemoryTransport({ logger: ctx.logger });
  try {
    const tenant = await findTenant(db, input.tenantSlug);
    if (!tenant) {
      process.stderr.write(`gatehouse: tenant "${input.tenantSlug}" not found\n`);
      return 1;
    }
    const created = await createUserAccount(
      { db },
      { email: input.email, password: input.password, username: input.username, displayName: input.displayName, roles: input.roles, tenantId: tenant.id },
    );
    process.stdout.write(`created user ${created.id} <${created.email}> in tenant "${tenant.slug}" with roles ${created.roles.join(', ')}\n`);

    if (ctx.config.natsUrl) {
      try {
        transport = await createNatsTransport({ url: ctx.config.natsUrl, logger: ctx.logger, name: 'gatehouse-cli', stream: ctx.config.natsStream, subjectPrefix: ctx.config.natsSubjectPrefix });
        const relay = createOutboxRelay({ db: db.admin, schema: db.schema, transport, logger: ctx.logger, flushTimeoutMs: 5000 });
        // stop() publishes what is pending and returns; whatever it could not publish stays for the service's relay.
        await relay.stop();
        const left = await relay.pending();
        if (left > 0) process.stderr.write(`gatehouse: warning: ${left} event(s) still in the auth outbox; the auth service publishes them when it runs\n`);
      } catch (err) {
        process.stderr.write(`gatehouse: warning: NATS unreachable (${failureMessage(err)}); the event waits in the auth outbox for the auth service\n`);
      }
    }
    return 0;
  } catch (err) {
    ctx.logger.debug({ err }, 'user create failed');
    process.stderr.write(`gatehouse: ${failureMessage(err)}\n`);
    return 1;
  } finally {
    await transport.close().catch(() => {});
    await db.close();
  }
}
