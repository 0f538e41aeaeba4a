/**
 * Makes the merged OpenAPI document pass Redocly's `recommended` rules, centrally, so a route
 * added in any service gets the same treatment without touching its file:
 *
 * - `operationId` on every operation: the route's own `schema.operationId` when it gives one
 *   (@fastify/swagger copies it), else derived from method and path (`POST /api/v1/auth/login`
 *   → `postAuthLogin`, `{id}` → `ById`); stable across restarts and unique (a clash gets a
 *   numeric suffix, in sorted path order).
 * - `security: []` on operations that declare none: every route that takes a token declares
 *   `bearerSecurity` (packages/contracts), so one without is public.
 * - error responses (4xx/5xx) whose body is the problem schema: `application/problem+json`
 *   (what the server sends) with a `$ref` to the one `Problem` component; an operation with no
 *   4xx at all gets the gateway's `429` (every request passes its rate limits).
 * - single-schema `anyOf`/`oneOf` unwrapped (TypeBox unions of one member).
 * - an `example` on every JSON request body that has none, sampled from its schema by
 *   `openapi-sampler` (Redocly's own sampler; a schema's `examples` wins over the generated one)
 *   and checked with Ajv against that schema: plain first, then with patterns sampled; a body
 *   for which neither is valid gets no example (better none than a wrong one).
 *
 * Hand-written rather than a Redocly "decorator" because it runs in the gateway at serve time
 * (the CLI is a dev dependency only), and it is a small walk over a JSON value.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { sample } from 'openapi-sampler';
import { ProblemSchema } from '@gatehouse/contracts';
import type { OpenApiDocument } from './docs.service';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const PROBLEM_REF = '#/components/schemas/Problem';
const PROBLEM_TYPE = 'application/problem+json';

/** `ProblemSchema` as a plain JSON Schema component (TypeBox's `$id` and symbols dropped). */
function problemComponent(): Json {
  const { $id: _id, ...rest } = JSON.parse(JSON.stringify(ProblemSchema)) as Json;
  return rest;
}

/** A schema that is the problem body: an object with the RFC 9457 members and `code`. */
function isProblemSchema(schema: unknown): boolean {
  if (!isObject(schema)) return false;
  if (schema.$ref === PROBLEM_REF) return true;
  const props = isObject(schema.properties) ? schema.properties : undefined;
  return !!props && ['type', 'title', 'status', 'detail', 'code'].every((k) => k in props);
}

const words = (s: string) => s.split(/[^A-Za-z0-9]+/).filter(Boolean);
const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** `post` + `/api/v1/admin/tenants/{id}/users` → `postAdminTenantsByIdUsers`. */
export function deriveOperationId(method: string, path: string): string {
  const parts = path
    .replace(/^\/api\/v\d+(?=\/)/, '')
    .split('/')
    .filter(Boolean)
    .flatMap((seg) => {
      const param = /^\{(.+)\}$/.exec(seg);
      if (param) return [`By${words(param[1]!).map(upperFirst).join('')}`];
      return words(seg).map(upperFirst);
    });
  return method.toLowerCase() + parts.join('');
}

/** Replaces `anyOf`/`oneOf` with a single member by that member (keeping the outer keywords). */
function unwrapSingleCompositions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSingleCompositions);
  if (!isObject(value)) return value;
  let out: Json = {};
  for (const [k, v] of Object.entries(value)) out[k] = unwrapSingleCompositions(v);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const list = out[key];
    if (Array.isArray(list) && list.length === 1 && isObject(list[0])) {
      const { [key]: _drop, ...restOuter } = out;
      out = { ...(list[0] as Json), ...restOuter };
    }
  }
  return out;
}

function problemResponse(description: string): Json {
  return { description, content: { [PROBLEM_TYPE]: { schema: { $ref: PROBLEM_REF } } } };
}

/** A sampled body that `schema` accepts (see the module comment), or undefined. */
function exampleFor(schema: Json, doc: OpenApiDocument): unknown {
  let validate: ((v: unknown) => boolean) | undefined;
  try {
    const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
    addFormats.default(ajv);
    // `#/components/...` references resolve inside this root
    validate = ajv.compile({ ...schema, components: doc.components });
  } catch {
    return undefined;
  }
  for (const enablePatterns of [false, true]) {
    try {
      const value = sample(schema, { skipReadOnly: true, skipNonRequired: true, enablePatterns, quiet: true }, doc);
      if (validate(value)) return value;
    } catch {
      // a schema the sampler cannot handle: try the next way, else no example
    }
  }
  return undefined;
}

/** Returns a copy of `doc` that satisfies the rules above; the input is not changed. */
export function normalizeOpenApi(input: OpenApiDocument): OpenApiDocument {
  const doc = unwrapSingleCompositions(input) as OpenApiDocument;
  const components = (doc.components ??= {});
  const schemas = (components.schemas ??= {});
  schemas.Problem = problemComponent();

  // Operation ids: explicit ones first (they win), then derived ones in sorted path order.
  const taken = new Set<string>();
  const operations: { method: string; path: string; op: Json }[] = [];
  for (const path of Object.keys(doc.paths).sort()) {
    const item = doc.paths[path];
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (isObject(op)) operations.push({ method, path, op });
    }
  }
  for (const { op } of operations) {
    if (typeof op.operationId === 'string') {
      if (taken.has(op.operationId)) delete op.operationId;
      else taken.add(op.operationId);
    }
  }
  for (const { method, path, op } of operations) {
    if (typeof op.operationId !== 'string') {
      const base = deriveOperationId(method, path);
      let id = base;
      for (let n = 2; taken.has(id); n++) id = `${base}${n}`;
      taken.add(id);
      op.operationId = id;
    }
    if (!Array.isArray(op.security)) op.security = [];

    const responses: Json = isObject(op.responses) ? op.responses : (op.responses = {});
    for (const [status, response] of Object.entries(responses)) {
      if (!/^[45]/.test(status) && status !== 'default') continue;
      if (!isObject(response)) continue;
      const content = isObject(response.content) ? response.content : undefined;
      const media = content ? Object.values(content).find(isObject) : undefined;
      if (!content || (media && isProblemSchema(media.schema))) {
        responses[status] = problemResponse(typeof response.description === 'string' ? response.description : 'Problem details');
      }
    }
    if (!Object.keys(responses).some((s) => s.startsWith('4'))) {
      responses['429'] = problemResponse('Too many requests (the gateway\'s rate limits); see Retry-After');
    }

    const body = isObject(op.requestBody) ? op.requestBody : undefined;
    const content = body && isObject(body.content) ? body.content : undefined;
    for (const [type, media] of Object.entries(content ?? {})) {
      if (!isObject(media) || !type.includes('json') || 'example' in media || 'examples' in media || !isObject(media.schema)) continue;
      const example = exampleFor(media.schema, doc);
      if (example !== undefined) media.example = example;
    }
  }
  return doc;
}
