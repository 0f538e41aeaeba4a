/**
 * `@gatehouse/verify/fastify`: {@link fastifyVerify} with `req.gatehouse` typed on FastifyRequest.
 *
 * ```ts
 * import { fastifyVerify } from '@gatehouse/verify/fastify';
 * app.addHook('preHandler', fastifyVerify(verifier));
 * app.get('/hello', async (req) => ({ hello: req.gatehouse!.user.id }));
 * ```
 */
import type {} from 'fastify';
import type { GatehouseAuth } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** set by fastifyVerify (@gatehouse/verify) */
    gatehouse?: GatehouseAuth;
  }
}

export { fastifyVerify } from './adapters.js';
export * from './index.js';
