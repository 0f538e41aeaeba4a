#!/usr/bin/env node
// `npm start`: `gatehouse start` from the production bundle (cli/dist/main.js), not through
// tsx. Loading the TypeScript sources through tsx took ~40% of a restart and ~40-60 MiB of RSS
// more than the bundle (bench/results/2026-12-07-embedded-pglite.md); the bundle is built here,
// the CLI alone (~0.5 s; esbuild, which every install has, since tsx, a dependency, depends on
// it; no type-check), when it is missing or older than any of its sources, so `npm ci && npm
// start` and editing a source then `npm start` both just work.
//
// The bundle runs in this process (no second Node). Node's compile cache is on for it
// (NODE_COMPILE_CACHE, else a directory in the OS temp dir): later starts skip compiling the
// bundle's and node_modules' JavaScript. The V8 flags of the embedded mode are on `npm start`'s
// own command line (package.json), since V8 takes them only at start-up; see docs/embedded.md.
//
//   node scripts/start.mjs [gatehouse start options]
import './check-node.mjs';
import module from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBundle, root } from './bundle.mjs';

const entry = path.join(root, 'cli', 'dist', 'main.js');
if (!(await ensureBundle('cli', (line) => process.stderr.write(`${line}\n`)))) process.exit(1);
module.enableCompileCache?.();
process.argv = [process.argv[0], entry, 'start', ...process.argv.slice(2)];
await import(pathToFileURL(entry).href);
