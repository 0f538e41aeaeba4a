/**
 * `gatehouse keys list | rotate`: the access-token signing keys in the auth database.
 * Rotation goes through the auth operations' `rotateSigningKey`, so it takes the same lock and
 * seals the private key with the same master secret as a running service.
 */
import { parseArgs } from 'node:util';
import { resolveSecret } from '@gatehouse/platform/secret';
import { cliContext, describeDatabase, failureMessage, openServiceDatabase, parseOrUsage, subcommand } from './migrate';

const HELP = `Usage: gatehouse keys <command> [options]

Commands:
  list     the signing keys in the JWKS: the current one and retired ones still published
  rotate   make a new signing key current; the previous ones stay published until every
           token they signed has expired, so nobody is logged out. Running services start
           signing with the new key within 60 s (at once on a token with its kid).

Options:
  --json      list: print JSON instead of a table
  -h, --help  show this help

The private keys are sealed with GATEHOUSE_SECRET (embedded: the secret under DATA_DIR); use
the same value as the services. "rotate" migrates a new auth database first.
`;

/** `gatehouse keys <list|rotate>`; returns the exit code. */
export async function keys(args: string[]): Promise<number> {
  const parsed = parseOrUsage(
    () => parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true }),
    HELP,
  );
  if (!parsed) return 2;
  const sub = subcommand('keys', parsed.positionals, parsed.values.help, ['list', 'rotate'] as const, HELP);
  if (typeof sub === 'number') return sub;
  const ctx = cliContext();
  // The secret first: a rotation that cannot seal its key must not migrate anything either.
  let secret = '';
  if (sub === 'rotate') {
    try {
      secret = await resolveSecret(ctx.config);
    } catch (err) {
      process.stderr.write(`gatehouse: keys rotate: ${failureMessage(err)}\n`);
      return 1;
    }
  }
  let opened: Awaited<ReturnType<typeof openServiceDatabase>>;
  try {
    opened = await openServiceDatabase(ctx, 'auth', { migrate: sub === 'rotate' });
  } catch (err) {
    process.stderr.write(`gatehouse: cannot open the auth database (${describeDatabase(ctx.config, 'auth')}): ${failureMessage(err)}\n`);
    return 1;
  }
  const { db } = opened;
  try {
    // Loaded here: usage errors and --help answer without loading the auth service.
    const ops = await import('@gatehouse/auth/operations');
    if (sub === 'rotate') {
      const { config } = ctx;
      const kid = await ops.rotateSigningKey({ config, db, secret, logger: ctx.logger });
      process.stdout.write(`${kid}\n`);
      process.stderr.write(`new signing key ${kid} (${config.tokens.algorithm}) is current; retired keys stay published for ${ops.signingKeyOverlapSec(config)} s\n`);
      return 0;
    }

    const list = await ops.listSigningKeys(db, ctx.config);
    if (parsed.values.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    } else if (list.length === 0) {
      process.stdout.write('no signing keys yet (the auth service makes the first on start; or run "gatehouse keys rotate")\n');
    } else {
      const table = [['KID', 'ALG', 'CREATED', 'STATUS'], ...list.map((k) => [k.kid, k.alg, k.createdAt, k.status === 'current' ? 'current' : `retired, published until ${k.publishedUntil}`])];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      process.stdout.write(`${table.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
    }
    return 0;
  } catch (err) {
    ctx.logger.debug({ err }, `keys ${sub} failed`);
    process.stderr.write(`gatehouse: keys ${sub}: ${failureMessage(err)}\n`);
    return 1;
  } finally {
    await db.close();
  }
}
