/**
 * A cap on the requests one client IP has in progress at once (`MAX_IN_FLIGHT_PER_IP`).
 * Rate limits count requests per window; they do not stop a client that opens many slow
 * requests at once and keeps them open. Counted in memory per gateway process: what it
 * protects (sockets, memory, the upstream pools) is per process too.
 */
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '@gatehouse/platform';
import { UNLIMITED_PATHS, requestPath } from './limits.hooks';

/** Creates the cap; `max` 0 turns it off. */
export function createInFlightCap(max: number) {
  const inFlight = new Map<string, number>();
  return {
    /**
     * Counts the request against its client IP until its answer ends (or its connection
     * closes); throws 429 `rate_limited` when the IP already has `max` in progress.
     */
    enter(req: FastifyRequest, reply: FastifyReply) {
      if (max <= 0 || UNLIMITED_PATHS.has(requestPath(req.url))) return;
      const ip = normalizeIP(req.ip ?? '');
      const now = inFlight.get(ip) ?? 0;
      if (now >= max) {
        throw new AppError('rate_limited', 429, {
          detail: 'Too many requests from this address are in progress at once; wait for them to finish.',
          headers: { 'retry-after': '1' },
        });
      }
      inFlight.set(ip, now + 1);
      // 'close' fires exactly once per response: sent, failed or aborted
      reply.raw.once('close', () => {
        const left = (inFlight.get(ip) ?? 1) - 1;
        if (left > 0) inFlight.set(ip, left);
        else inFlight.delete(ip);
      });
    },
  };
}
export type InFlightCap = ReturnType<typeof createInFlightCap>;
