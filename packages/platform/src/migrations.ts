/**
 * Where a service's numbered .sql migrations are, whichever way the code runs:
 *   - from source (tsx):             services/<name>/src/x.ts   -> services/<name>/migrations
 *   - bundled alone (dist/main.js):  services/<name>/dist/main.js -> services/<name>/migrations
 *   - bundled into the CLI:          cli/dist/main.js            -> services/<name>/migrations
 * The CLI bundle is what `gatehouse start` (and the image's SERVICE=all) runs; without the
 * last candidate it looked in cli/migrations, found nothing and applied only the platform
 * prelude, so the first query failed with `relation "signing_keys" does not exist`.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const hasSql = (dir: string): boolean =>
  existsSync(dir) && readdirSync(dir).some((f) => /^\d+_.*\.sql$/.test(f));

/** The migrations directory of `service`, located from the calling module's `import.meta.url`. */
export function findMigrationsDir(moduleUrl: string, service: string): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  const candidates = [path.resolve(here, '../migrations'), path.resolve(here, '../../services', service, 'migrations')];
  const found = candidates.find(hasSql);
  if (!found) throw new Error(`${service} migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}
