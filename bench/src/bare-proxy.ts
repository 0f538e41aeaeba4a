/**
 * The baseline for the gateway benchmark: a reverse proxy with the same HTTP stack
 * (Fastify + @fastify/reply-from) and nothing else — no tenant resolution, no token
 * verification, no rate limits, no security headers. Usage: PORT=… TARGET=… node --import tsx bare-proxy.ts
 */
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';

const target = process.env.TARGET;
if (!target) throw new Error('TARGET is required');
const app = Fastify({ logger: false });
await app.register(replyFrom, { base: target, undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 } });
app.all('/*', (req, reply) => reply.from(req.url));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ msg: 'bare proxy ready', port: (app.server.address() as { port: number }).port })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
