#!/usr/bin/env node
// Second half of `npm run build` (after `tsc`): bundles each service's src/main.ts and the
// CLI's src/main.ts into dist/main.js, so `node services/auth/dist/main.js` runs without tsx.
//
// The workspace packages (@gatehouse/*, whose exports point at .ts sources) are bundled in;
// every other package stays external and is loaded from node_modules at run time, so native
// modules (argon2, bcrypt), dynamic requires and package assets keep working unchanged.

import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = ['gateway', 'auth', 'users', 'audit'];

const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const dependencies = new Set(Object.keys(rootPkg.dependencies ?? {}));
const devDependencies = new Set(Object.keys(rootPkg.devDependencies ?? {}));
const builtins = new Set(builtinModules);

/** "@scope/name/sub/path" -> "@scope/name"; "name/sub" -> "name". */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const isBare = (specifier) => !/^(\.|\/|[a-zA-Z]:[\\/]|#|data:|file:)/.test(specifier);

/**
 * Keeps every package but @gatehouse/* external. A bundle that imports a package the root
 * package.json does not declare would fail on a production install, so that is an error;
 * one that imports a devDependency would fail under `npm ci --omit=dev`, so that warns.
 */
const externalsPlugin = {
  name: 'gatehouse-externals',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const spec = args.path;
      if (!isBare(spec) || args.kind === 'entry-point') return undefined;
      if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(packageName(spec))) {
        return { path: spec, external: true };
      }
      const name = packageName(spec);
      if (name.startsWith('@gatehouse/')) return undefined; // bundled from source
      if (dependencies.has(name)) return { path: spec, external: true };
      if (devDependencies.has(name)) {
        return {
          path: spec,
          external: true,
          warnings: [{ text: `"${name}" is only a devDependency in the root package.json; production installs (--omit=dev) will not have it` }],
        };
      }
      return {
        errors: [{ text: `"${name}" is not a dependency in the root package.json: add it there (or import it from a package that is)` }],
      };
    });
  },
};

const targets = [
  ...SERVICES.map((name) => ({ label: `services/${name}`, dir: path.join(root, 'services', name) })),
  { label: 'cli', dir: path.join(root, 'cli') },
].filter((t) => fs.existsSync(path.join(t.dir, 'src', 'main.ts')));

if (targets.length === 0) {
  console.error('build: no services/<name>/src/main.ts or cli/src/main.ts to bundle.');
  process.exit(1);
}

/**
 * Packages the OpenTelemetry instrumentations patch as they load (tracing-sdk.ts). The SDK is
 * started by main.ts before it imports the rest; in a single-file ESM bundle every external
 * `import` is hoisted to the top and would run first (pg spans missing in production). So the
 * bundles are split: what main.ts imports dynamically lands in chunks that load only when
 * that import runs, and the entry must not import any of these statically (checked below).
 */
const INSTRUMENTED = ['pg', 'ioredis', 'undici', 'fastify', 'node:http', 'http', 'node:https', 'https', '@nats-io/transport-node'];

/** External packages the entry output loads before any of its code runs (its static import closure). */
function staticExternals(outputs, entryFile) {
  const seen = new Set();
  const externals = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of outputs[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement') continue;
      if (imp.external) externals.add(imp.path);
      else visit(imp.path);
    }
  };
  visit(entryFile);
  return externals;
}

// ESM output has no `require`; bundled CommonJS code (and createRequire-style interop) needs one.
const banner = "import { createRequire as __gatehouseCreateRequire } from 'node:module';\nconst require = __gatehouseCreateRequire(import.meta.url);";

let failed = false;
const started = Date.now();
for (const target of targets) {
  const outdir = path.join(target.dir, 'dist');
  fs.rmSync(outdir, { recursive: true, force: true });
  const t0 = Date.now();
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [path.join(target.dir, 'src', 'main.ts')],
      outdir,
      entryNames: 'main',
      // chunks beside main.js: code that finds files from its own import.meta.url (migrations,
      // the console) sees the same directory as before the split
      chunkNames: 'chunk-[hash]',
      splitting: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      sourcemap: true,
      // Error classes and handlers are told apart by name in logs and problem responses.
      keepNames: true,
      banner: { js: banner },
      plugins: [externalsPlugin],
      metafile: true,
      logLevel: 'warning',
    });
    // (the chunks of dynamic imports are entry points too in the metafile: pick main.js itself)
    const entryFile = Object.keys(result.metafile.outputs).find((f) => path.resolve(root, f) === path.join(outdir, 'main.js'));
    const early = [...staticExternals(result.metafile.outputs, entryFile)].filter((x) => INSTRUMENTED.includes(x.split('/').slice(0, x.startsWith('@') ? 2 : 1).join('/')));
    if (early.length) {
      console.error(`build: ${target.label}/dist/main.js imports ${early.join(', ')} before tracing starts: import it dynamically after startTracing() in src/main.ts`);
      failed = true;
    }
    const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
    const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
    const inputs = Object.keys(result.metafile.inputs).length;
    console.log(
      `build: ${target.label}/dist/main.js  ${(bytes / 1024).toFixed(0)} KiB from ${inputs} source files  (${Date.now() - t0} ms)`,
    );
  } catch {
    // esbuild has already printed the errors.
    console.error(`build: ${target.label} failed`);
    failed = true;
  }
}

console.log(`build: ${failed ? 'FAILED' : 'done'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
