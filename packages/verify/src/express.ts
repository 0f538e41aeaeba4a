/**
 * `@gatehouse/verify/express`: {@link expressVerify} with `req.gatehouse` typed on Express's Request.
 *
 * ```ts
 * import { expressVerify } from '@gatehouse/verify/express';
 * app.use(expressVerify(verifier));
 * app.get('/hello', (req, res) => res.json({ hello: req.gatehouse!.user.id }));
 * ```
 */
import type { GatehouseAuth } from './verifier.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own augmentation point
  namespace Express {
    interface Request {
      /** set by expressVerify (@gatehouse/verify) */
      gatehouse?: GatehouseAuth;
    }
  }
}

export { expressVerify } from './adapters.js';
export * from './index.js';
