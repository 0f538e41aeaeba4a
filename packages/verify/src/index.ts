/**
 * `@gatehouse/verify`: Gatehouse access tokens in any Node service.
 *
 * ```ts
 * import { createVerifier, protect } from '@gatehouse/verify';
 * const verifier = createVerifier({ issuer: 'https://id.example.com', tenant: TENANT_ID, revocation: { redisUrl: process.env.REDIS_URL } });
 * http.createServer(protect(verifier, (req, res) => res.end(`hello ${req.gatehouse.user.id}`))).listen(8080);
 * ```
 */
export { createVerifier, bearerFrom, requireGrants, ALLOWED_ALGORITHMS } from './verifier.js';
export type { AccessClaims, GatehouseAuth, Requirements, TenantRule, Verifier, VerifierOptions } from './verifier.js';
export { expressVerify, fastifyVerify, protect, sendRefusal } from './adapters.js';
export type { VerifiedRequest } from './adapters.js';
export { VerifyError } from './errors.js';
export type { Problem } from './errors.js';
export { createRevocationFeed } from './revocations.js';
export type { RevocationFeed, RevocationFeedOptions } from './revocations.js';
