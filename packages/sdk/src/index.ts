/**
 * `@gatehouse/sdk`: a typed client for the Gatehouse API.
 *
 * ```ts
 * import { createGatehouseClient, GatehouseError } from '@gatehouse/sdk';
 * const gh = createGatehouseClient({ baseUrl: 'https://acme.id.example.com' });
 * await gh.login({ email: 'ada@example.com', password: '…' });
 * const me = await gh.me();
 * const { data } = await gh.api.GET('/api/v1/users/me');   // every path, typed
 * ```
 */
export { createGatehouseClient, GatehouseClient, tokenExpiry } from './client.js';
export type { GatehouseClientOptions, LoginBody, LoginMfaBody, MfaChallenge, RegisterBody, SessionChange, TokenResponse, Tokens, User } from './client.js';
export { GatehouseError, retryAfterMs } from './errors.js';
export type { Problem, ProblemFieldError } from './errors.js';
export type { components, operations, paths } from './schema.js';
