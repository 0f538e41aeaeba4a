#!/usr/bin/env node
// Refuses, in one line, to go on under a Node.js older than package.json "engines" (22.19+: undici 8
// and eslint 10 need it).
// Every `npm run` script runs this first (`node scripts/check-node.mjs && …`), and
// scripts/test.mjs imports it: on Node 20 tsx, kysely and others load but misbehave later,
// so a half-supported run is worse than a clear stop. `npm ci` refuses too (engine-strict
// in .npmrc). Plain JavaScript with no imports from node_modules, so it runs on any Node.
//
//   node scripts/check-node.mjs            exit 0 when this Node is new enough, else 1 with one line on stderr
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// "engines.node" is kept in the simple ">=MAJOR.MINOR" form; anything else is a mistake here.
const wanted = /^>=\s*(\d+)\.(\d+)$/.exec(String(pkg.engines && pkg.engines.node));
if (!wanted) {
  process.stderr.write(`gatehouse: package.json engines.node must read ">=MAJOR.MINOR", got ${JSON.stringify(pkg.engines)}\n`);
  process.exit(1);
}
const need = [Number(wanted[1]), Number(wanted[2])];
const have = process.versions.node.split('.').map(Number);
if (have[0] < need[0] || (have[0] === need[0] && have[1] < need[1])) {
  process.stderr.write(
    `gatehouse: Node.js ${process.versions.node} (${process.execPath}) is too old: Gatehouse needs Node.js ${need.join('.')} or newer ` +
      `(24 LTS recommended); get it from https://nodejs.org or run \`npm install --prefix ~/.cache/gatehouse/node24 node@24\` ` +
      `and put ~/.cache/gatehouse/node24/node_modules/.bin first on PATH.\n`,
  );
  process.exit(1);
}
