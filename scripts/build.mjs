#!/usr/bin/env node
// Second half of `npm run build` (after `tsc`): bundles each service's src/main.ts and the
// CLI's src/main.ts into dist/main.js (scripts/bundle.mjs), so `node services/auth/dist/main.js`
// runs without tsx.

import { bundleTarget, targets } from './bundle.mjs';

if (targets.length === 0) {
  console.error('build: no services/<name>/src/main.ts or cli/src/main.ts to bundle.');
  process.exit(1);
}

let failed = false;
const started = Date.now();
for (const target of targets) {
  if (!(await bundleTarget(target))) failed = true;
}

console.log(`build: ${failed ? 'FAILED' : 'done'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
