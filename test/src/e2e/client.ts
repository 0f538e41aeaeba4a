/**
 * @deprecated Use `../client` (the one HTTP client). Note: `Reply.headers` is a plain object
 * there (`r.headers['content-type']`), not a `Headers` (`r.headers.get(…)`).
 */
export { auditEntriesOfType, call, eventually, login, mapLimit, ndjson, register, uniqueEmail, type Account, type Reply, type RequestOptions as CallOptions } from '../client';
