/**
 * How busy each service's upstream connection pool is, for readiness: while every
 * connection to a service is taken, new requests for it wait in a queue, so a load balancer
 * should send traffic to another gateway. Counts the gateway's own forwarded requests (from
 * the call to the service until the answer to the client ends), not undici's internals.
 */
import type { FastifyReply } from 'fastify';
import type { Area } from './proxy.service';

/** Creates the counter for pools of `connections` connections per service. */
export function createUpstreamLoad(connections: number) {
  const inFlight: Record<Area, number> = { auth: 0, users: 0, audit: 0 };
  return {
    connections,
    /** Counts one forwarded request to `area` until `reply` ends. */
    track(area: Area, reply: FastifyReply) {
      inFlight[area] += 1;
      reply.raw.once('close', () => {
        inFlight[area] -= 1;
      });
    },
    /** Readiness check: throws, naming the services, while any pool is saturated. */
    async check() {
      const saturated = (Object.keys(inFlight) as Area[]).filter((area) => inFlight[area] >= connections);
      if (saturated.length > 0) {
        throw new Error(`saturated: ${saturated.map((a) => `${a} ${inFlight[a]} in flight on ${connections} connections`).join(', ')}`);
      }
    },
  };
}
export type UpstreamLoad = ReturnType<typeof createUpstreamLoad>;
