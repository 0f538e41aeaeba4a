// The bundling step of `npm run build` (scripts/build.mjs: every target) and of `npm start`
// (scripts/start.mjs: the CLI alone, when its bundle is missing or older than its sources).
// Bundles a service's or the CLI's src/main.ts into dist/main.js, so it runs without tsx.
//
// The workspace packages (@gatehouse/*, whose exports point at .ts sources) are bundled in;
// every other package stays external and is loaded from node_modules at run time, so native
// modules (argon2, bcrypt), dynamic requires and package assets keep working unchanged.
//
// esbuild is imported only when something is bundled: `npm start` with a fresh bundle never loads it.

import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
 * Third-party packages bundled in rather than loaded from node_modules at run time, with the
 * packages they import. Node resolves, reads and links every file of a package on its own:
 * typebox is ~680 ES modules and kysely ~250, which cost ~85 ms of CPU each at every start of
 * `npm start` (bundled: ~10 ms; bench/results/2026-12-07-embedded-pglite-run5.md). Only packages
 * that are plain JavaScript, find no files of their own at run time, are not patched by the
 * OpenTelemetry instrumentations (INSTRUMENTED below) and are imported by no package that stays
 * external (a second copy would be loaded beside the bundled one, and its classes would not be
 * the bundled ones): typebox, kysely, jose, openid-client (which imports jose) and
 * oauth4webapi, arctic and its @oslojs packages. (oidc-provider, external and loaded on first
 * use, brings its own jose; nothing passes jose objects between the two.) Not
 * @opentelemetry/api (~100 files): with it bundled, the bundled services made no spans
 * (test/src/e2e/tracing-processes.test.ts).
 */
const INLINE = new Set(['typebox', 'kysely', 'jose', 'openid-client', 'arctic']);

/**
 * Keeps every package but @gatehouse/* and {@link INLINE} external. A bundle that imports a
 * package the root package.json does not declare would fail on a production install, so that
 * is an error; one that imports a devDependency would fail under `npm ci --omit=dev`, so that
 * warns. What an inlined package imports is bundled with it, unless the root package.json
 * declares it (then it stays external, one copy for everyone).
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
      if (INLINE.has(name)) return undefined;
      if (dependencies.has(name)) return { path: spec, external: true };
      // imported by an inlined package (the only node_modules files in the bundle)
      if (args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
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

/** What can be bundled: each service and the CLI that has a src/main.ts. */
export const targets = [
  ...SERVICES.map((name) => ({ label: `services/${name}`, dir: path.join(root, 'services', name) })),
  { label: 'cli', dir: path.join(root, 'cli') },
].filter((t) => fs.existsSync(path.join(t.dir, 'src', 'main.ts')));

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

/** Beside main.js: the bundle's source files (paths from the repository root), for {@link staleReason}. */
const INPUTS_FILE = 'inputs.json';

/**
 * Why `target`'s dist/main.js must be (re)built, or undefined when it is up to date: missing,
 * or one of the files it was built from (listed in dist/inputs.json), or package.json, changed
 * or went away since. A new source file can only enter the bundle through an import in one it
 * already has, so the listed files are enough.
 */
export function staleReason(target) {
  const entry = path.join(target.dir, 'dist', 'main.js');
  let built;
  let inputs;
  try {
    built = fs.statSync(entry).mtimeMs;
    inputs = JSON.parse(fs.readFileSync(path.join(target.dir, 'dist', INPUTS_FILE), 'utf8'));
  } catch {
    return `${path.relative(root, entry)} is not built yet`;
  }
  for (const file of ['package.json', ...inputs]) {
    let mtime;
    try {
      mtime = fs.statSync(path.join(root, file)).mtimeMs;
    } catch {
      return `${file} is gone`;
    }
    if (mtime > built) return `${file} changed`;
  }
  return undefined;
}

/**
 * Builds the bundle of the target labelled `label` when `staleReason` finds one, then stops
 * esbuild's service process (which would keep the caller alive); `log` gets why and esbuild's
 * lines. Resolves to false when that build failed. What `npm start` does first
 * (scripts/start.mjs), and the benchmark before it starts the bundle (bench/src/lib.ts).
 */
export async function ensureBundle(label, log = console.log) {
  const target = targets.find((t) => t.label === label);
  if (!target) throw new Error(`no bundle target labelled ${label}`);
  const reason = staleReason(target);
  if (!reason) return true;
  log(`gatehouse: building the bundle (${reason})`);
  const ok = await bundleTarget(target, log);
  (await import('esbuild')).stop();
  return ok;
}

/**
 * Puts the directory `made` in place of `outdir`: the old one moves aside in one rename, the new
 * one takes its place in another. Two builds at once (`npm start` while `npm run build` runs)
 * can each find the place taken between the two; the later one then tries again.
 */
function swapIn(made, outdir, aside) {
  for (let attempt = 0; ; attempt++) {
    try {
      if (fs.existsSync(outdir)) fs.renameSync(outdir, aside);
      fs.renameSync(made, outdir);
      break;
    } catch (err) {
      if (attempt >= 5 || !['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(err.code)) throw err;
    } finally {
      fs.rmSync(aside, { recursive: true, force: true });
    }
  }
}

/**
 * Bundles one target into `<dir>/dist`. Built in a sibling directory and swapped in, so a
 * process running the previous bundle (or starting from it) never sees a half-written one.
 * Resolves to whether it succeeded; prints one line (or esbuild's errors). `variant` is for the
 * benchmark only: a bundle built into `<dir>/<variant.dir>` (beside dist, so that code finding
 * files from its own location finds the same ones) with esbuild `plugins` of its own first,
 * e.g. the tracing bench's bundle without tracing code (bench/src/tracing.ts).
 */
export async function bundleTarget(target, log = console.log, variant = { dir: 'dist', plugins: [] }) {
  const esbuild = await import('esbuild');
  const outdir = path.join(target.dir, variant.dir);
  const tmp = path.join(target.dir, `${variant.dir}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  const t0 = Date.now();
  let ok = true;
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [path.join(target.dir, 'src', 'main.ts')],
      outdir: tmp,
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
      // No keepNames: it wraps every function expression in a `__name(fn, "…")` call, which runs
      // each time the function is created, so every closure made per request paid an
      // Object.defineProperty (a CPU profile of a proxied GET: ~6 µs of the main thread per
      // request in `__name`; an interleaved A/B of the bundled system, 14 rounds: 0.570 -> 0.539
      // ms CPU per GET /auth/me, bench/src/tracing-ab.ts with BENCH_SAMPLERS empty). Nothing
      // reads a bundled function's name: AppError sets its own, no class is renamed by the
      // bundling (only some functions on a collision, e.g. `create2`, seen in stack traces).
      keepNames: false,
      banner: { js: banner },
      plugins: [...variant.plugins, externalsPlugin],
      metafile: true,
      logLevel: 'warning',
    });
    // the entry's own output: chunks of dynamic imports have an entryPoint too (their module)
    const entryPoint = path.relative(root, path.join(target.dir, 'src', 'main.ts')).split(path.sep).join('/');
    const entryFile = Object.keys(result.metafile.outputs).find((f) => result.metafile.outputs[f].entryPoint === entryPoint);
    if (!entryFile) throw new Error(`no output for ${entryPoint} in the metafile`);
    const early = [...staticExternals(result.metafile.outputs, entryFile)].filter((x) => INSTRUMENTED.includes(x.split('/').slice(0, x.startsWith('@') ? 2 : 1).join('/')));
    if (early.length) {
      console.error(`build: ${target.label}/dist/main.js imports ${early.join(', ')} before tracing starts: import it dynamically after startTracing() in src/main.ts`);
      ok = false;
    }
    // the bundle's own sources, and the package.json of each inlined package (an upgrade rewrites it)
    const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/'));
    const inlined = new Set(
      Object.keys(result.metafile.inputs)
        .map((f) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1])
        .filter((dir) => dir !== undefined)
        .map((dir) => `${dir}/package.json`),
    );
    inputs.push(...[...inlined].sort());
    fs.writeFileSync(path.join(tmp, INPUTS_FILE), `${JSON.stringify(inputs, null, 1)}\n`);
    swapIn(tmp, outdir, path.join(target.dir, `${variant.dir}.old-${process.pid}`));
    const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
    const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
    log(`build: ${target.label}/${variant.dir}/main.js  ${(bytes / 1024).toFixed(0)} KiB from ${Object.keys(result.metafile.inputs).length} source files  (${Date.now() - t0} ms)`);
  } catch (err) {
    // esbuild has already printed its errors; anything else is printed here
    if (!err?.errors) console.error(err);
    console.error(`build: ${target.label} failed`);
    ok = false;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return ok;
}
