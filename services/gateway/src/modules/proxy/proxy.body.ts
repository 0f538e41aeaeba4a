/**
 * Reading request bodies at the gateway. Each body is read whole, under its route's limit,
 * before an upstream connection is taken (issue 9: bodies streamed through at the client's
 * pace held the upstream pool; oversized ones answered 502 and left the connection hanging).
 *
 * Hand-written rather than Fastify's `parseAs: 'buffer'` reader for one reason: that reader
 * answers an oversized body at once and closes the connection while the client is still
 * sending, so the client often sees a reset instead of the 413. This one reads (and drops)
 * the rest of a moderately oversized body first, so the 413 arrives on a connection that
 * stays usable; beyond {@link DRAIN_FACTOR} times the limit it gives up and closes.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { proxyErrors } from './proxy.errors';

/** An oversized body is read to its end (and dropped) up to this many times the limit. */
export const DRAIN_FACTOR = 4;

/** The body of a request whose body was over the limit but read to its end. */
export const OVERSIZED = Symbol('oversized body');

type Done = (err: Error | null, body?: Buffer | typeof OVERSIZED) => void;

/**
 * Fastify content-type parser: the body as one Buffer, at most the route's `bodyLimit`
 * bytes (Content-Length, or counted bytes when chunked). Over it: the rest is drained and
 * the body is {@link OVERSIZED} (the handler answers 413, keep-alive); far over it, a 413
 * error at once (Fastify then closes the connection).
 */
export function readWholeBody(req: FastifyRequest, payload: IncomingMessage, done: Done) {
  const limit = req.routeOptions.bodyLimit ?? 1024 * 1024;
  const drainLimit = limit * DRAIN_FACTOR;
  const declared = Number(req.headers['content-length']);
  if (declared > drainLimit) {
    done(proxyErrors.payloadTooLarge());
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= limit) {
      chunks.push(chunk);
      return;
    }
    chunks.length = 0;
    if (received > drainLimit) {
      cleanup();
      done(proxyErrors.payloadTooLarge());
    }
  };
  const onEnd = () => {
    cleanup();
    done(null, received > limit ? OVERSIZED : Buffer.concat(chunks, received));
  };
  const onError = (err: Error) => {
    cleanup();
    done(Object.assign(err, { statusCode: 400 }));
  };
  function cleanup() {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
}
