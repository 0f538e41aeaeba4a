// `npm run proto:breaking`: `buf breaking` of packages/contracts/proto against the same
// directory on the branch `main` (PROTO_BREAKING_AGAINST overrides the branch), read from
// this repository's git directory (a worktree's common one). Run by .ci/run and by
// packages/contracts/src/proto.test.ts. Before main has any .proto file there is nothing to
// break: it says so and passes.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const branch = process.env.PROTO_BREAKING_AGAINST ?? 'main';
const gitDir = path.resolve(root, execFileSync('git', ['rev-parse', '--git-common-dir'], { cwd: root, encoding: 'utf8' }).trim());
const listed = spawnSync('git', ['ls-tree', '-r', '--name-only', branch, '--', 'packages/contracts/proto'], { cwd: root, encoding: 'utf8' });
if (listed.status !== 0) {
  process.stderr.write(`proto:breaking: no branch ${branch}: ${listed.stderr}`);
  process.exit(1);
}
if (!listed.stdout.split('\n').some((f) => f.endsWith('.proto'))) {
  process.stdout.write(`proto:breaking: ${branch} has no .proto files under packages/contracts/proto yet; nothing to compare\n`);
  process.exit(0);
}
const buf = path.join(root, 'node_modules', '.bin', 'buf');
const against = `${gitDir}#branch=${branch},subdir=packages/contracts/proto`;
const r = spawnSync(buf, ['breaking', 'proto', '--against', against], { cwd: path.join(root, 'packages/contracts'), stdio: 'inherit' });
process.exit(r.status ?? 1);
