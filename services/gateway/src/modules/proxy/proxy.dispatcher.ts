/**
 * The gateway's upstream connections: writes on a new connection each, everything else on
 * kept-alive pools (issue 14: a replica killed with `kill -9` must cost no more than the
 * requests it was running).
 *
 * A request written on a pooled connection races with the replica's sudden death: the gateway
 * can write it in the instant before it handles that connection's close, and then it has sent
 * it. retryOnFreshConnection resends an idempotent request, but a POST or PATCH may have been
 * read, so it is answered 502. On a new connection to a dead replica the connect is refused
 * instead (nothing was sent) and retryOnFreshConnection resends it for every method, which a
 * Kubernetes Service or compose DNS sends to a live replica. Same choice and same method set
 * as nginx's `_fresh` pools (deploy/nginx/gatehouse.conf).
 *
 * Behind the shipped nginx site (the gateway's URLs point at its internal listener, which
 * stays up) it also keeps a write off an idle connection that an nginx reload is closing.
 *
 * Cost: one TCP handshake on the internal network per write, and a TIME_WAIT socket per write
 * (see docs/operations.md about port ranges); measured on loopback (bench/results/
 * 2026-12-07-gateway-fresh-writes.md, a busy machine) about 0.23 ms more CPU per write on the
 * gateway's side and 0.08 ms on the service's, against ~2 ms of a real profile update. Not a
 * setting: the alternative is a lost write per sudden death, and reads keep the pools. The one
 * exception is the all-in-one process (`gatehouse start`): its services run in the gateway's
 * own process and cannot die alone, so it turns this off (GatewayOptions.writesOnNewConnection).
 *
 * TLS: undici's defaults (certificates verified), where reply-from's own Agent did not verify
 * upstream certificates; the shipped deployments use plain HTTP inside.
 *
 * @fastify/reply-from takes one dispatcher per registration, not per request, so this one
 * picks by method and hands the request to one of two undici Agents (undici's own dispatch
 * API, no hand-written HTTP).
 */
import { Agent, Dispatcher } from 'undici';

/** Methods sent on a new connection each: nginx's non-idempotent ones (not resent once sent). */
export const FRESH_CONNECTION_METHODS: ReadonlySet<string> = new Set(['POST', 'PATCH', 'LOCK']);

/** Dispatches writes to `fresh` and every other method to `pooled`; closes both. */
class ByMethodDispatcher extends Dispatcher {
  constructor(
    private readonly pooled: Dispatcher,
    private readonly fresh: Dispatcher,
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return (FRESH_CONNECTION_METHODS.has(options.method) ? this.fresh : this.pooled).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all([this.pooled.close(), this.fresh.close()]).then(() => undefined);
    if (!callback) return done;
    void done.then(callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const done = Promise.all([this.pooled.destroy(err), this.fresh.destroy(err)]).then(() => undefined);
    if (!callback) return done;
    void done.then(callback);
  }
}

export interface UpstreamDispatcherOptions {
  /** connections per service, in each of the two pools */
  connections: number;
  /** how long an idle pooled connection is kept */
  keepAliveMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
  /** false: writes use the pool too (the all-in-one process; default true) */
  writesOnNewConnection?: boolean;
}

/** The dispatcher for @fastify/reply-from's `undici` option (reply-from destroys it on close). */
export function createUpstreamDispatcher(o: UpstreamDispatcherOptions): Dispatcher {
  const common = {
    connections: o.connections,
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    connect: { timeout: o.connectTimeoutMs },
  };
  const pooled = new Agent({
    ...common,
    pipelining: 1,
    // An idle upstream connection is given up after keepAliveMs whatever the server's
    // Keep-Alive hint says: shorter than a draining replica's SHUTDOWN_DRAIN_SEC (5 s), so the
    // gateway holds no idle connection to a replica that is about to close its idle ones.
    keepAliveTimeout: o.keepAliveMs,
    keepAliveMaxTimeout: o.keepAliveMs,
  });
  if (o.writesOnNewConnection === false) return pooled;
  // pipelining 0: no keep-alive; undici sends `Connection: close` and closes after the answer.
  const fresh = new Agent({ ...common, pipelining: 0 });
  return new ByMethodDispatcher(pooled, fresh);
}
