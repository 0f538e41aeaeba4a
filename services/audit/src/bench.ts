/**
 * Audit benchmarks for the bench/ harness: ingestion throughput (through the durable
 * consumer, and concurrent appends) and event-to-visible latency (publish to the entry
 * showing up in an /audit/events page). Self-contained: it opens its own database
 * (PostgreSQL when given, else PGlite in memory) and transport (its own JetStream stream
 * and subject prefix when given a NATS URL, else in process), and closes them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import client from 'prom-client';
import type { Logger } from 'pino';
import { loadConfig } from '@gatehouse/platform/config';
import { createDatabase } from '@gatehouse/platform/db';
import { createMemoryTransport, createNatsTransport, makeEvent, type EventTransport } from '@gatehouse/platform/events';
import { createKvStore } from '@gatehouse/platform/kv';
import { createRevocationList } from '@gatehouse/platform/revocation';
import { AUDIT_SCHEMA, createAuditDeps } from './deps';

export interface AuditBenchOptions {
  logger: Logger;
  /** PostgreSQL URL of an empty database (its `audit` schema is created); unset: PGlite in memory */
  databaseUrl?: string;
  /** NATS URL; unset: the in-process transport */
  natsUrl?: string;
  /** events for the throughput runs (default 2000) */
  events?: number;
  /** sequential publish-to-visible samples (default 200) */
  latencySamples?: number;
}

export interface AuditBenchResult {
  transport: 'nats' | 'memory';
  database: 'postgres' | 'pglite';
  /** backlog drained by the durable consumer, events per second */
  consumerEventsPerSec: number;
  /** appends from 10 concurrent callers over 5 tenants, events per second */
  concurrentEventsPerSec: number;
  /** publish to visible in GET /audit/events, milliseconds */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs the audit benchmarks once and returns the figures. */
export async function runAuditBench(opts: AuditBenchOptions): Promise<AuditBenchResult> {
  const { logger } = opts;
  const events = opts.events ?? 2000;
  const samples = opts.latencySamples ?? 200;
  const id = randomBytes(5).toString('hex');
  const stream = `AUDIT_BENCH_${id}`;
  const transport: EventTransport = opts.natsUrl
    ? await createNatsTransport({ url: opts.natsUrl, logger, stream, subjectPrefix: `auditbench${id}` })
    : createMemoryTransport({ logger, maxRetained: events + samples + 100 });
  const db = await createDatabase({ url: opts.databaseUrl, schema: AUDIT_SCHEMA, logger });
  const kv = createKvStore({ logger });
  const revocations = createRevocationList({ kv, logger });
  // A real key set, though the benchmark sends no authenticated requests.
  const { publicKey } = await generateKeyPair('ES256');
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] });
  const deps = await createAuditDeps(loadConfig({ LOG_LEVEL: 'silent' }), { logger, kv, transport, revocations, registry: new client.Registry() }, { jwks, database: db });
  try {
    // 1. Backlog through the consumer: publish everything, then start consuming.
    const tenant = randomUUID();
    for (let i = 0; i < events; i++) {
      await transport.publish(makeEvent({ source: 'bench', type: 'user.events.created', tenantId: tenant, data: { userId: randomUUID(), n: i } }));
    }
    const t0 = performance.now();
    await deps.start();
    for (;;) {
      const page = await deps.entries.list(tenant, {}, { limit: 1 });
      if ((page.items[0]?.seq ?? 0) >= events) break;
      await sleep(20);
    }
    const consumerEventsPerSec = events / ((performance.now() - t0) / 1000);

    // 2. Concurrent appends (as many request handlers recording social entries would).
    const tenants = Array.from({ length: 5 }, () => randomUUID());
    let next = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < events) {
          const n = next++;
          await deps.ingest.handle(makeEvent({ source: 'bench', type: 'social.events.post.liked', tenantId: tenants[n % 5]!, data: { n } }));
        }
      }),
    );
    const concurrentEventsPerSec = events / ((performance.now() - t1) / 1000);

    // 3. Event to visible, one at a time.
    const latencies: number[] = [];
    const lt = randomUUID();
    for (let i = 0; i < samples; i++) {
      const event = makeEvent({ source: 'bench', type: 'auth.events.login_succeeded', tenantId: lt, data: { userId: randomUUID() } });
      const start = performance.now();
      await transport.publish(event);
      for (;;) {
        const page = await deps.entries.list(lt, {}, { limit: 1 });
        if (page.items[0]?.eventId === event.id) break;
        await sleep(1);
      }
      latencies.push(performance.now() - start);
    }
    latencies.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      transport: transport.kind,
      database: db.kind,
      consumerEventsPerSec: Math.round(consumerEventsPerSec),
      concurrentEventsPerSec: Math.round(concurrentEventsPerSec),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p95: round(percentile(latencies, 95)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies[latencies.length - 1] ?? 0),
      },
    };
  } finally {
    await deps.close();
    await db.close();
    await transport.close();
    await kv.close();
    if (opts.natsUrl) {
      const nc = await connect({ servers: opts.natsUrl });
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
      await nc.close();
    }
  }
}
