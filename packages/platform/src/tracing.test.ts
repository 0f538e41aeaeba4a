/**
 * Gatehouse's own spans (tracing.ts): the SERVER span each HTTP app opens per request (the
 * client's traceparent continued, named after the route, probes untraced) and the query spans
 * (inside a trace only, no BEGIN/COMMIT): made from Kysely's log on PGlite, by the pool on
 * PostgreSQL (the last test, with TEST_DATABASE_URL), with the
 * OpenTelemetry Node SDK exporting to memory. The e2e suite checks the same across processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import { sql } from 'kysely';
import { NodeSDK } from '@opentelemetry/sdk-node';
import * as traceSdk from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace';
import { SpanKind, trace } from '@opentelemetry/api';
import { createHttpApp, type HttpApp } from './http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { APP_ROLE, createDatabase, rlsSql, type Database } from './db';
import { carriesTraceparent, consumeSpan, enableServerSpans, forwardingHeaders, publishSpan, sampledTraceparent, traceFields, withSpan, withoutSpans } from './tracing';
import { createTestDatabase, eventually, testLogger } from './testing';
import { headSampling } from './tracing-sdk';

const exporter = new InMemorySpanExporter();
// the SDK as tracing-sdk.ts starts it (head sampling before the span, its id generator), over a
// sampler a test may swap: the default, parent-based always-on, unless a test says otherwise
const defaultSampler: Sampler = new traceSdk.ParentBasedSampler({ root: new traceSdk.AlwaysOnSampler() });
let inner: Sampler = defaultSampler;
const sampler: Sampler = { shouldSample: (...args) => inner.shouldSample(...args), toString: () => `switchable(${inner.toString()})` };
const sampling = headSampling(traceSdk, sampler);
const sdk = new NodeSDK({
  serviceName: 'tracing-test',
  sampler,
  idGenerator: sampling.idGenerator,
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
  instrumentations: [],
  metricReaders: [],
  logRecordProcessors: [],
});
let db: Database;
let app: HttpApp;
let url: string;
const finishedIn: string[] = [];
const unfed: PassThrough[] = [];

before(async () => {
  sdk.start();
  enableServerSpans(sampling.head);
  db = await createDatabase({ schema: 'traced', logger: testLogger });
  app = await createHttpApp({ name: 'traced', logger: testLogger });
  app.get('/things/:id', async (req) => {
    const { id } = req.params as { id: string };
    const rows = await db.transaction(async (trx) => (await sql<{ id: string }>`select ${id}::text as id`.execute(trx)).rows);
    return { id: rows[0]?.id };
  });
  // a body Fastify reads from the request's events, and a hook run from the response's
  // 'finish': both must run in the request's trace (traced-server.ts)
  app.post('/things', async (req) => {
    const { id } = req.body as { id: string };
    const rows = (await sql<{ id: string }>`select ${id}::text as id`.execute(db.admin)).rows;
    return { id: rows[0]?.id, untraced: withoutSpans(() => trace.getActiveSpan() === undefined) };
  });
  // a response written from outside the request's context (a stream fed by a timer started
  // here, as the gateway's answer is fed by the upstream connection): its 'finish', which runs
  // Fastify's onResponse hooks, still comes in the request's span
  const feeding = setInterval(() => {
    for (const stream of unfed.splice(0)) stream.end('streamed');
  }, 20);
  feeding.unref();
  app.get('/streamed', async (_req, reply) => {
    const stream = new PassThrough();
    unfed.push(stream);
    return reply.type('text/plain').send(stream);
  });
  // answers after the client has gone: its span must still end, as an error
  app.get('/slow', async () => {
    await sleep(150);
    return { late: true };
  });
  // what the gateway's forwarding would send on, and what the handler's work runs in
  app.post('/forwarding', async (req) => {
    const rows = (await sql<{ one: number }>`select 1 as one`.execute(db.admin)).rows;
    return { forward: forwardingHeaders(req.raw) ?? null, active: trace.getActiveSpan() !== undefined, log: traceFields(), one: rows[0]?.one };
  });
  app.addHook('onResponse', async (req) => {
    finishedIn.push(`${req.method} ${traceFields().span_id}`);
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app?.close();
  await db?.close();
  await sdk.shutdown();
});

const spanId = (s: ReadableSpan) => s.spanContext().spanId;
const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;

test("a request is a SERVER span named after its route, continuing the client's traceparent, with its queries as children", async () => {
  exporter.reset();
  const traceId = randomBytes(16).toString('hex');
  const parent = randomBytes(8).toString('hex');
  const r = await fetch(`${url}/things/abc?x=1`, { headers: { traceparent: `00-${traceId}-${parent}-01` } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { id: 'abc' });
  // the span ends when the response is closed, which can come just after the client has it
  const server = await eventually(() => {
    const s = exporter.getFinishedSpans().find((x) => x.kind === SpanKind.SERVER);
    assert.ok(s, 'a server span');
    return s;
  });
  const spans = exporter.getFinishedSpans();
  assert.equal(server.name, 'GET /things/:id');
  assert.equal(server.spanContext().traceId, traceId);
  assert.equal(parentId(server), parent);
  assert.equal(server.attributes['http.route'], '/things/:id');
  assert.equal(server.attributes['url.path'], '/things/abc');
  assert.equal(server.attributes['http.response.status_code'], 200);
  const queries = spans.filter((s) => s.name.startsWith('pg.query:'));
  assert.deepEqual(
    queries.map((q) => q.name),
    ['pg.query:SELECT'],
    'the SELECT has a span; the transaction statements have none',
  );
  const q = queries[0]!;
  assert.equal(q.kind, SpanKind.CLIENT);
  assert.equal(parentId(q), spanId(server));
  assert.equal(q.attributes['db.system.name'], 'postgresql');
  assert.equal(q.attributes['db.query.text'], 'select $1::text as id', 'the SQL with placeholders, never the values');
});

test('without a traceparent the request starts a trace; probes and queries outside a trace make no span', async () => {
  exporter.reset();
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
  await sql`select 1`.execute(db.admin);
  assert.deepEqual(
    exporter.getFinishedSpans().map((s) => s.name),
    [],
  );
  assert.equal((await fetch(`${url}/things/x`)).status, 200);
  const server = await eventually(() => {
    const s = exporter.getFinishedSpans().find((x) => x.kind === SpanKind.SERVER);
    assert.ok(s, 'a server span');
    return s;
  });
  assert.equal(parentId(server), undefined);
  // by now the probe's response was long closed: it still has no span
  assert.ok(!exporter.getFinishedSpans().some((s) => s.attributes['url.path'] === '/readyz'), 'no span for the probe');
});

test('a failing query inside a span is an error span under it; withSpan outside a trace makes none', async () => {
  exporter.reset();
  assert.equal(await withSpan('alone', {}, async () => trace.getActiveSpan()), undefined);
  await trace.getTracer('test').startActiveSpan('request', async (request) => {
    await assert.rejects(withSpan('work', {}, () => sql`select * from no_such_table`.execute(db.admin)));
    request.end();
  });
  const spans = exporter.getFinishedSpans();
  assert.ok(!spans.some((s) => s.name === 'alone'));
  const work = spans.find((s) => s.name === 'work');
  const q = spans.find((s) => s.name === 'pg.query:SELECT');
  assert.ok(work && q, spans.map((s) => s.name).join(', '));
  assert.equal(parentId(q), spanId(work));
  assert.equal(q.status.code, 2, 'SpanStatusCode.ERROR');
});

test("a request's body events and its response's end run in its span, wherever they come from; withoutSpans leaves it", async () => {
  exporter.reset();
  finishedIn.length = 0;
  // the body a moment after the headers, so that Node emits it from the socket's read, outside
  // the request listener (a body in the headers' packet is read within it)
  const body = JSON.stringify({ id: 'posted' });
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  await sleep(100);
  socket.end(body);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { id: 'posted', untraced: true });
  const server = await eventually(() => {
    const s = exporter.getFinishedSpans().find((x) => x.kind === SpanKind.SERVER);
    assert.ok(s, 'a server span');
    return s;
  });
  assert.equal(server.name, 'POST /things');
  const q = exporter.getFinishedSpans().find((s) => s.name === 'pg.query:SELECT');
  assert.ok(q, 'the query after the body was read has a span');
  assert.equal(parentId(q), spanId(server));
  assert.ok(finishedIn.includes(`POST ${spanId(server)}`), `the onResponse hook ran in the server span: ${finishedIn.join(', ')}`);

  exporter.reset();
  finishedIn.length = 0;
  const streamed = await fetch(`${url}/streamed`);
  assert.equal(await streamed.text(), 'streamed');
  const get = await eventually(() => {
    const x = exporter.getFinishedSpans().find((y) => y.kind === SpanKind.SERVER);
    assert.ok(x, 'a server span');
    return x;
  });
  assert.deepEqual(finishedIn, [`GET ${spanId(get)}`], 'the onResponse hook of a response fed from elsewhere ran in its span');
});

test("a response its client left before the answer still ends its span, as an error; each request's span ends once", async () => {
  exporter.reset();
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(30);
  socket.destroy();
  const server = await eventually(() => {
    const s = exporter.getFinishedSpans().find((x) => x.kind === SpanKind.SERVER);
    assert.ok(s, 'a server span');
    return s;
  });
  assert.equal(server.name, 'GET /slow');
  assert.equal(server.status.code, 2, 'SpanStatusCode.ERROR: the response never finished');
  // two requests on one kept-alive connection: two spans, each ended once
  exporter.reset();
  const a = await fetch(`${url}/things/a`);
  const b = await fetch(`${url}/things/b`);
  assert.deepEqual([a.status, b.status], [200, 200]);
  await a.text();
  await b.text();
  await sleep(300); // /slow's late answer closes too, and must not end a span twice
  const servers = await eventually(() => {
    const s = exporter.getFinishedSpans().filter((x) => x.kind === SpanKind.SERVER);
    assert.equal(s.length, 2, s.map((x) => x.name).join(', '));
    return s;
  });
  assert.deepEqual(servers.map((s) => s.attributes['url.path']).sort(), ['/things/a', '/things/b']);
  assert.ok(servers.every((s) => s.status.code !== 2));
});

test('carriesTraceparent: undici requests that already carry a traceparent, in any header form and case', () => {
  assert.equal(carriesTraceparent({ headers: ['host', 'x', 'traceparent', '00-a-b-01'] }), true);
  assert.equal(carriesTraceparent({ headers: ['Host', 'x', 'TraceParent', '00-a-b-01'] }), true);
  assert.equal(carriesTraceparent({ headers: [Buffer.from('traceparent'), Buffer.from('00-a-b-01')] }), true);
  assert.equal(carriesTraceparent({ headers: ['host', 'x', 'tracestate', 'k=v', 'x-traceparent', 'y'] }), false);
  assert.equal(carriesTraceparent({ headers: 'host: x\r\nTraceparent: 00-a-b-01\r\n' }), true);
  assert.equal(carriesTraceparent({ headers: 'host: x\r\n' }), false);
  assert.equal(carriesTraceparent({}), false);
});

test("a request its sampler does not record runs as untraced: no span, no context, and the forwarding carries the decision on", async () => {
  exporter.reset();
  const traceId = randomBytes(16).toString('hex');
  const parent = randomBytes(8).toString('hex');
  // the default sampler is parent-based: a client's traceparent flagged not sampled is not recorded
  const r = await fetch(`${url}/forwarding`, { method: 'POST', headers: { traceparent: `00-${traceId}-${parent}-00`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { forward: Record<string, string> | null; active: boolean; log: Record<string, string>; one: number };
  assert.equal(body.one, 1);
  assert.equal(body.active, false, 'the handler runs in no span');
  assert.deepEqual(body.log, {}, 'its log lines carry no trace ids');
  const forwarded = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(body.forward?.traceparent ?? '');
  assert.ok(forwarded, `a traceparent to forward: ${JSON.stringify(body.forward)}`);
  assert.equal(forwarded[1], traceId, 'the same trace');
  assert.notEqual(forwarded[2], parent, "this server's span id, not the client's");
  assert.equal(forwarded[3], '00', 'flagged not sampled, so the service drops it too');
  // a recorded request after it: its span is exported, so the unsampled one would have been by now
  assert.equal((await fetch(`${url}/things/y`)).status, 200);
  await eventually(() => assert.ok(exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER && s.attributes['url.path'] === '/things/y')));
  assert.ok(!exporter.getFinishedSpans().some((s) => s.spanContext().traceId === traceId), 'no span of the unsampled trace, its query included');
});

test('a root request is sampled before any span starts: a dropped one starts none and forwards a trace of its own as not sampled, a kept one is a span on the trace id it was sampled on', async () => {
  exporter.reset();
  inner = new traceSdk.ParentBasedSampler({ root: new traceSdk.TraceIdRatioBasedSampler(0.5) });
  try {
    const forwarded: Array<{ traceId: string; spanId: string; flags: string }> = [];
    for (let i = 0; i < 24; i++) {
      const r = await fetch(`${url}/forwarding`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const body = (await r.json()) as { forward: Record<string, string> | null };
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(body.forward?.traceparent ?? '');
      assert.ok(m, `a traceparent to forward: ${JSON.stringify(body.forward)}`);
      forwarded.push({ traceId: m[1]!, spanId: m[2]!, flags: m[3]! });
    }
    const kept = forwarded.filter((f) => f.flags === '01');
    const dropped = forwarded.filter((f) => f.flags === '00');
    assert.ok(kept.length > 0 && dropped.length > 0, `both decisions at ratio 0.5: ${kept.length} kept, ${dropped.length} dropped`);
    assert.equal(new Set(forwarded.map((f) => f.traceId)).size, forwarded.length, 'each root request is a trace of its own');
    await eventually(() => assert.equal(exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER).length, kept.length));
    const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    for (const k of kept) {
      const span = servers.find((s) => s.spanContext().traceId === k.traceId);
      assert.ok(span, `the kept request's span is on the trace id it was sampled on (${k.traceId})`);
      assert.equal(spanId(span), k.spanId, 'and is what the forwarding names as the parent');
    }
    for (const d of dropped) assert.ok(!exporter.getFinishedSpans().some((s) => s.spanContext().traceId === d.traceId), 'a dropped request leaves no span, its query included');
  } finally {
    inner = defaultSampler;
  }
});

test('a recorded request forwards its own SERVER span as the parent', async () => {
  exporter.reset();
  const traceId = randomBytes(16).toString('hex');
  const r = await fetch(`${url}/forwarding`, { method: 'POST', headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, 'content-type': 'application/json' }, body: '{}' });
  const body = (await r.json()) as { forward: Record<string, string> | null; active: boolean };
  assert.equal(body.active, true);
  const server = await eventually(() => {
    const s = exporter.getFinishedSpans().find((x) => x.kind === SpanKind.SERVER && x.spanContext().traceId === traceId);
    assert.ok(s);
    return s;
  });
  assert.equal(body.forward?.traceparent, `00-${traceId}-${spanId(server)}-01`);
});

test('sampledTraceparent reads the sampled flag', () => {
  const t = `00-${'a'.repeat(32)}-${'b'.repeat(16)}`;
  assert.equal(sampledTraceparent(`${t}-01`), true);
  assert.equal(sampledTraceparent(`${t}-03`), true);
  assert.equal(sampledTraceparent(`${t}-00`), false);
  assert.equal(sampledTraceparent(`${t}-02`), false);
  assert.equal(sampledTraceparent('00-short'), false);
});

test("an event of an unsampled trace is published and consumed without spans, keeping its traceparent", async () => {
  exporter.reset();
  const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
  const event = { type: 'thing.done', id: 'e1', traceparent };
  const sent: Array<typeof event> = [];
  await publishSpan(event, async (e) => {
    sent.push(e);
  });
  assert.deepEqual(sent, [event], 'sent as it is: the decision travels to the consumers');
  const inside = await consumeSpan(event, 'things', async () => trace.getActiveSpan());
  assert.equal(inside, undefined);
  // a sampled event, for contrast, makes both spans
  const sampled = { ...event, id: 'e2', traceparent: `${traceparent.slice(0, -2)}01` };
  await publishSpan(sampled, async () => {});
  await consumeSpan(sampled, 'things', async () => {});
  assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ['process thing.done', 'publish thing.done']);
});

test("PostgreSQL: queries are spanned by the pool itself, inside a recorded trace only; a tenant transaction's open (sent with its first statement), BEGIN and COMMIT make none; a failing statement is an error span", async (t) => {
  const testDb = await createTestDatabase();
  if (!testDb.url) {
    t.skip('needs PostgreSQL (TEST_DATABASE_URL): the PGlite path is the tests above');
    return;
  }
  const pg = await createDatabase({ url: testDb.url, schema: 'traced_pg', logger: testLogger, poolSize: 1 });
  try {
    await pg.migrate(await tracedMigrations());
    const tenant = '00000000-0000-4000-8000-00000000000a';
    exporter.reset();
    // outside any span: the relay's polling, a dropped request
    await pg.withTenant(tenant, (trx) => sql`select count(*) from notes`.execute(trx));
    await sql`select 1`.execute(pg.admin);
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name), [], 'no span outside a trace');
    await trace.getTracer('test').startActiveSpan('request', async (request) => {
      await pg.withTenant(tenant, async (trx) => {
        await sql`select count(*) from notes`.execute(trx);
        await sql`insert into notes (tenant_id, body) values (${tenant}, 'x')`.execute(trx);
      });
      await pg.transaction((trx) => sql`select 1`.execute(trx));
      await assert.rejects(sql`select * from no_such_table`.execute(pg.admin));
      request.end();
    });
    const spans = exporter.getFinishedSpans();
    const request = spans.find((s) => s.name === 'request')!;
    const queries = spans.filter((s) => s.name.startsWith('pg.query:'));
    assert.deepEqual(queries.map((s) => s.name), ['pg.query:SELECT', 'pg.query:INSERT', 'pg.query:SELECT', 'pg.query:SELECT'], 'no span for the open, BEGIN or COMMIT');
    for (const q of queries) {
      assert.equal(parentId(q), spanId(request));
      assert.equal(q.kind, SpanKind.CLIENT);
      assert.equal(q.attributes['db.system.name'], 'postgresql');
      assert.ok(q.endTime[0] * 1e9 + q.endTime[1] >= q.startTime[0] * 1e9 + q.startTime[1], 'ends after it starts');
    }
    assert.equal(queries[0]!.attributes['db.query.text'], 'select count(*) from notes', 'the statement, not the open it was sent with');
    assert.match(String(queries[1]!.attributes['db.query.text']), /values \(\$1, 'x'\)/, 'placeholders, never the values');
    assert.equal(queries[3]!.status.code, 2, 'the failing statement: SpanStatusCode.ERROR');
    assert.notEqual(queries[0]!.status.code, 2);
  } finally {
    await pg.close();
    await testDb.drop();
  }
});

async function tracedMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-traced-'));
  await writeFile(
    path.join(dir, '0001_notes.sql'),
    `create table notes (id serial primary key, tenant_id uuid not null, body text not null);
     ${rlsSql('notes')}
     grant select, insert on notes to ${APP_ROLE};
     grant usage on sequence notes_id_seq to ${APP_ROLE};`,
  );
  return dir;
}
