/**
 * The peer for `BENCH_ONLY=peer npm run bench` (issue 13 item 5): Better Auth with its
 * email+password sign-in, on the same PostgreSQL as Gatehouse (its own database, created by the
 * bench and migrated here with Better Auth's own migration API), served by a bare node:http
 * server through Better Auth's Node handler. Rate limiting is off, as Gatehouse's is in the
 * bench. Prints `{"msg":"peer ready"}` when it listens.
 *
 * Env: PORT, PEER_DATABASE_URL.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';

const port = Number(process.env.PORT);
const baseURL = `http://127.0.0.1:${port}`;
const pool = new pg.Pool({ connectionString: process.env.PEER_DATABASE_URL, max: 10 });
const auth = betterAuth({
  database: pool,
  baseURL,
  secret: 'bench-peer-secret-bench-peer-secret-0123456789',
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  trustedOrigins: [baseURL],
  telemetry: { enabled: false },
});
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
const server = createServer(toNodeHandler(auth));
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'peer ready', port })));
process.on('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
