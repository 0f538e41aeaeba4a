/**
 * Route schemas compiled on a route's first request instead of when the app starts (issue 13:
 * memory and start-up). Fastify compiles, at `ready`, an ajv validator for every request part
 * and a fast-json-stringify serializer for every response status of every route: in the
 * all-in-one process (four apps, ~130 routes) that was ~1 s of a restart and the generated code
 * of routes most deployments never call stayed in the heap (bench/results/2026-12-07-servers-heap-run3.md).
 *
 * These are Fastify's own default compilers (@fastify/ajv-compiler, @fastify/fast-json-stringify-compiler,
 * with the app's ajv and serializer options), each compiled schema wrapped in a function that
 * compiles it on its first call; what the compiled function does is unchanged. A schema that
 * cannot compile fails its route's requests (500) rather than the start, so the tests compile
 * every deferred schema of every app once ({@link compileDeferredSchemas}).
 *
 * Fastify lower-cases the property names of a `headers` schema only for its default compiler;
 * with a compiler of one's own it passes the schema as written, so a headers schema with an
 * upper-case property name is refused here when the route is added (none has one).
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>;
type RouteSchema = { schema?: unknown; httpPart?: string; method?: string; url?: string };

/** An ajv validate function as Fastify calls it: `schemaEnv` tells it to pass the parent data (root coercion). */
interface Validate {
  (data: unknown, cxt?: unknown): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
}

const pendingByApp = new WeakMap<object, Set<() => void>>();
// One pool for the process: apps with the same shared schemas and ajv options share one Ajv
// instance (the pool is keyed by both), as the routes of one app always did.
const validators = AjvCompiler();
const serializers = SerializerSelector();

function upperCaseHeader(schema: unknown): string | undefined {
  const props = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  return props && typeof props === 'object' ? Object.keys(props).find((k) => k !== k.toLowerCase()) : undefined;
}

/** The compilers factory of one app; {@link bindDeferredSchemas} ties its pending schemas to the app. */
export function deferredCompilers() {
  const pending = new Set<() => void>();

  const buildValidator = (externalSchemas: unknown, ajvOptions: unknown) => {
    const compile = (validators as unknown as (s: unknown, o: unknown) => (r: RouteSchema) => Validate)(externalSchemas, ajvOptions);
    return (route: RouteSchema) => {
      if (route.httpPart === 'headers') {
        const name = upperCaseHeader(route.schema);
        if (name) throw new Error(`${route.method} ${route.url}: header schema property "${name}" must be lower-case`);
      }
      let real: Validate | undefined;
      const now = (): Validate => {
        if (real) return real;
        real = compile(route);
        pending.delete(now); // compiled: no longer pending (a schema that fails stays pending)
        return real;
      };
      pending.add(now);
      const validate: Validate = (data, cxt) => {
        const fn = now();
        const result = fn.schemaEnv ? fn(data, cxt) : fn(data);
        validate.errors = fn.errors;
        return result;
      };
      // Fastify passes { parentData, parentDataProperty } only to a function that has this
      validate.schemaEnv = true;
      return validate;
    };
  };

  const buildSerializer = (externalSchemas: unknown, serializerOptions: unknown) => {
    const factory = serializers as unknown as (s: unknown, o: unknown) => (r: RouteSchema) => (data: unknown) => string;
    // a factory per schema: Fastify's drops a route's own $id from the shared schemas it keeps
    // for the next compile, which would make the outcome depend on the order of first requests
    const compile = (route: RouteSchema) => factory(externalSchemas, serializerOptions)(route);
    return (route: RouteSchema) => {
      let real: ((data: unknown) => string) | undefined;
      const now = (): ((data: unknown) => string) => {
        if (real) return real;
        real = compile(route);
        pending.delete(now); // compiled: no longer pending (a schema that fails stays pending)
        return real;
      };
      pending.add(now);
      return (data: unknown) => now()(data);
    };
  };

  // typed as Fastify's factories: what they return is called exactly as the compiled functions are
  const compilersFactory = { buildValidator: buildValidator as unknown as ValidatorFactory, buildSerializer: buildSerializer as unknown as SerializerFactory };
  return { compilersFactory, pending };
}

/** Ties the pending schemas of `deferred` to `app` (for {@link compileDeferredSchemas}). */
export function bindDeferredSchemas(app: FastifyInstance, deferred: ReturnType<typeof deferredCompilers>): void {
  pendingByApp.set(app, deferred.pending);
}

/** Compiles every schema of `app` not compiled yet (tests: a schema that cannot compile throws here). Returns how many. */
export function compileDeferredSchemas(app: FastifyInstance): number {
  const pending = pendingByApp.get(app);
  if (!pending) return 0;
  const all = [...pending];
  for (const compile of all) compile();
  return all.length;
}
