/**
 * The HTTP server of an app when tracing is on (http.ts's `serverFactory`): the server Fastify
 * would make (its lib/server.js), with its request listener wrapped in a SERVER span per
 * request (tracing.ts, `tracedRequestListener`) and request and response classes whose events
 * run in that request's trace context (`requestEventContext`) and whose `close` ends the span
 * (`endServerSpan`). Kept apart from tracing.ts, which is loaded before the SDK starts and so
 * must not import node:http (scripts/bundle.mjs).
 */
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import { context } from '@opentelemetry/api';
import { endServerSpan, requestEventContext, tracedRequestListener } from './tracing';

class TracedIncomingMessage extends IncomingMessage {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const ctx = requestEventContext(this, event);
    return ctx === undefined ? super.emit(event, ...args) : context.with(ctx, () => super.emit(event, ...args));
  }
}

class TracedServerResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const ctx = requestEventContext(this, event);
    try {
      return ctx === undefined ? super.emit(event, ...args) : context.with(ctx, () => super.emit(event, ...args));
    } finally {
      // after the close listeners, even one that threw: the span ends once, whatever they do
      if (event === 'close') endServerSpan(this);
    }
  }
}

/** Fastify's server options as its `serverFactory` receives them (the ones applied here). */
export interface FactoryOptions {
  http?: object;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

/** `serverFactory` for Fastify when tracing is on. */
export function createTracedServer(handler: (req: IncomingMessage, res: ServerResponse) => void, o: FactoryOptions): Server {
  const server = createServer({ ...o.http, IncomingMessage: TracedIncomingMessage, ServerResponse: TracedServerResponse }, tracedRequestListener(handler));
  if (o.keepAliveTimeout !== undefined) server.keepAliveTimeout = o.keepAliveTimeout;
  if (o.requestTimeout !== undefined) server.requestTimeout = o.requestTimeout;
  server.setTimeout(o.connectionTimeout ?? 0);
  if (o.maxRequestsPerSocket) server.maxRequestsPerSocket = o.maxRequestsPerSocket;
  return server;
}
