/**
 * `gatehouse` command: a small dispatcher. Each command lives in its own module, loaded only
 * when it runs (so `gatehouse start` does not load what `gatehouse keys` needs, and the other
 * way round). `npm start` is `gatehouse start`.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '@gatehouse/platform/config';

interface Command {
  summary: string;
  /** resolves to the exit code (nothing: 0; `start` keeps running after it resolves) */
  run(args: string[]): Promise<number | void>;
}

/**
 * The commands. Owners add theirs here: `migrate`, `tenant`, `user`, `keys`, `audit`
 * (e.g. `migrate: { summary: '…', run: (a) => import('./migrate').then((m) => m.migrate(a)) }`).
 */
const commands: Record<string, Command> = {
  start: {
    summary: 'run every service and the gateway in one process (embedded by default)',
    // tracing (when configured) starts before the services' modules load, so they are instrumented
    run: async (args) => {
      const { startTracing } = await import('@gatehouse/platform/tracing-sdk');
      await startTracing(process.env, 'gatehouse');
      return import('./start').then((m) => m.start(args));
    },
  },
  migrate: {
    summary: "apply every service's pending database migrations, then exit",
    run: (args) => import('./commands/migrate').then((m) => m.migrate(args)),
  },
  user: {
    summary: 'create a user account (user create --email E --password-stdin [--admin] [--tenant slug])',
    run: (args) => import('./commands/user').then((m) => m.user(args)),
  },
  tenant: {
    summary: 'manage tenants (tenant create <slug> --name N | list | show <slug> | disable <slug> | enable <slug>)',
    run: (args) => import('./commands/tenant').then((m) => m.tenant(args)),
  },
  keys: {
    summary: 'list or rotate the access-token signing keys (keys list | keys rotate)',
    run: (args) => import('./commands/keys').then((m) => m.keys(args)),
  },
  audit: {
    summary: "re-compute the audit log's hash chains (audit verify [--tenant slug])",
    run: (args) => import('./commands/audit').then((m) => m.audit(args)),
  },
  purge: {
    summary: 'delete, once, ended sessions, spent tokens and old outbox/inbox rows past their retention',
    run: (args) => import('./commands/purge').then((m) => m.purge(args)),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const list = Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `Usage: gatehouse <command> [options]\n\nCommands:\n${list}\n\nRun "gatehouse <command> --help" for a command's options.\n`;
}

/**
 * Runs the command named by `argv[0]` with the rest of `argv`; returns the exit code, or
 * undefined for a command that keeps running after it returns (`start`).
 */
export async function main(argv: string[]): Promise<number | undefined> {
  // Only the leading options are the dispatcher's; everything from the command name on is the command's.
  const first = argv.findIndex((a) => !a.startsWith('-'));
  const own = first < 0 ? argv : argv.slice(0, first);
  let values: { help?: boolean };
  try {
    ({ values } = parseArgs({ args: own, options: { help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage()}`);
    return 2;
  }
  const name = first < 0 ? undefined : argv[first];
  if (values.help || name === undefined || name === 'help') {
    process.stdout.write(usage());
    return name === undefined && !values.help ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  const code = await command.run(argv.slice(first + 1));
  return typeof code === 'number' ? code : undefined;
}

const code = await main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as Error & { code?: string };
  // Bad flags and bad configuration are the user's to fix: the message alone, no stack.
  if (err instanceof ConfigError || e?.code?.startsWith('ERR_PARSE_ARGS')) process.stderr.write(`gatehouse: ${e.message}\n`);
  else process.stderr.write(`gatehouse: ${e?.stack ?? String(err)}\n`);
  return 1;
});
// `start` keeps running until a signal; every other command ends here, explicitly: a closed
// PGlite database leaves an emscripten timer behind that would hold the process for seconds.
// (stdout and stderr are synchronous for files, pipes and terminals on Linux: nothing is cut.)
if (code !== undefined) process.exit(code);
