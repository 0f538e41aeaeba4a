// `npm run proto:breaking`: `buf breaking` of packages/contracts/proto against the same
// directory on the branch `main` (else `origin/main`; PROTO_BREAKING_AGAINST names another
// ref), read from this repository's git directory (a worktree's common one) at that commit. Run by .ci/run and by
// packages/contracts/src/proto.test.ts. Before main has any .proto file there is nothing to
// break: it says so and passes.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const candidates = process.env.PROTO_BREAKING_AGAINST ? [process.env.PROTO_BREAKING_AGAINST] : ['main', 'origin/main'];
const gitDir = path.resolve(root, execFileSync('git', ['rev-parse', '--git-common-dir'], { cwd: root, encoding: 'utf8' }).trim());
const resolved = candidates
  .map((ref) => ({ ref, r: spawnSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }) }))
  .find((x) => x.r.status === 0);
if (!resolved) {
  process.stderr.write(`proto:breaking: none of ${candidates.join(', ')} exists in this clone (fetch main first)\n`);
  process.exit(1);
}
const branch = resolved.ref;
const commit = resolved.r.stdout.trim();
const listed = spawnSync('git', ['ls-tree', '-r', '--name-only', commit, '--', 'packages/contracts/proto'], { cwd: root, encoding: 'utf8' });
if (!listed.stdout.split('\n').some((f) => f.endsWith('.proto'))) {
  process.stdout.write(`proto:breaking: ${branch} has no .proto files under packages/contracts/proto yet; nothing to compare\n`);
  process.exit(0);
}
const buf = path.join(root, 'node_modules', '.bin', 'buf');
const against = `${gitDir}#ref=${commit},subdir=packages/contracts/proto`;
process.stdout.write(`proto:breaking: against ${branch} (${commit.slice(0, 12)})\n`);
const r = spawnSync(buf, ['breaking', 'proto', '--against', against], { cwd: path.join(root, 'packages/contracts'), stdio: 'inherit' });
process.exit(r.status ?? 1);
