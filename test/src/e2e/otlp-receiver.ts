/**
 * An OTLP/HTTP trace receiver of the test's own (no OpenTelemetry collector is packaged for
 * npm or Debian): `POST /v1/traces` with the OTLP JSON encoding (OTEL_EXPORTER_OTLP_PROTOCOL=
 * http/json), decoded per opentelemetry-proto's `ExportTraceServiceRequest` JSON mapping
 * (trace and span ids as hex strings, enums as numbers), answered with an empty
 * `ExportTraceServiceResponse` as a collector does. A protobuf body is refused with 415 so a
 * misconfigured exporter shows up as a failure, not as silence.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One received span, flattened with its resource's service.name. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  kind: number;
  attributes: Record<string, string | number | boolean>;
}

// opentelemetry-proto JSON: AnyValue is one of these keys (int64 arrive as strings)
type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value?: AnyValue };
interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number; attributes?: KeyValue[] }> }>;
  }>;
}

function attrs(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (!value) continue;
    const v = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue;
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Flattens an ExportTraceServiceRequest (JSON) into spans. */
export function decodeTraces(body: ExportTraceServiceRequest): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attrs(rs.resource?.attributes)['service.name'] ?? 'unknown');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind ?? 0, attributes: attrs(s.attributes) });
      }
    }
  }
  return spans;
}

export interface OtlpReceiver {
  /** base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces) */
  url: string;
  spans: ReceivedSpan[];
  /** requests refused (wrong path or encoding) */
  refused: number;
  /** export requests accepted, and their body bytes */
  exports: number;
  bytes: number;
  close(): Promise<void>;
}

/**
 * `sink: true` (the benchmark): accept any OTLP/HTTP trace export, protobuf included, and only
 * count it, so measuring the exporters' cost does not also measure this receiver decoding.
 */
export async function startOtlpReceiver(opts: { sink?: boolean } = {}): Promise<OtlpReceiver> {
  const receiver = { url: '', spans: [] as ReceivedSpan[], refused: 0, exports: 0, bytes: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = req.headers['content-type'] ?? '';
      if (opts.sink && req.method === 'POST' && req.url === '/v1/traces') {
        receiver.exports += 1;
        receiver.bytes += chunks.reduce((n, c) => n + c.length, 0);
        // an empty ExportTraceServiceResponse in the request's encoding
        res.writeHead(200, { 'content-type': type.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' }).end(type.startsWith('application/json') ? '{}' : '');
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !type.startsWith('application/json')) {
        receiver.refused += 1;
        res.writeHead(req.url === '/v1/traces' ? 415 : 404).end();
        return;
      }
      try {
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        receiver.spans.push(...decodeTraces(JSON.parse(raw.toString('utf8')) as ExportTraceServiceRequest));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        receiver.refused += 1;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
