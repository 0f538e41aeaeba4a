// temporary (not committed): CPU profiles of the bundled all-in-one under GET /auth/me load, per variant
import { startOtlpReceiver } from '../../test/src/e2e/otlp-receiver';
import { deleteStream, freePort, http, load, spawnNode } from './lib';
const receiver = await startOtlpReceiver({ sink: true });
const runId = Date.now().toString(36);
const variants = (process.env.PROF_VARIANTS ?? 'off,always_off,on').split(',');
for (const [i, v] of variants.entries()) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnNode('cli/dist/main.js', ['start'], {
    PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL, NATS_URL: process.env.NATS_URL,
    NATS_STREAM: `BENCHPROF_${runId}_${i}`, NATS_SUBJECT_PREFIX: `benchprof${runId}x${i}`, GATEHOUSE_SECRET: process.env.GATEHOUSE_SECRET,
    PORT: String(port), METRICS_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', SHUTDOWN_DRAIN_SEC: '0', RATE_LIMIT_IP_MAX: '0', RATE_LIMIT_USER_MAX: '0', RATE_LIMIT_CREDENTIALS_MAX: '0', MAX_IN_FLIGHT_PER_IP: '0', DATABASE_POOL_SIZE: '4',
    ...(v !== 'off' ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } : {}),
    ...(v === 'always_off' ? { OTEL_TRACES_SAMPLER: 'always_off' } : {}),
  }, [`--cpu-prof`, `--cpu-prof-dir=/tmp/prof/${v}`, '--cpu-prof-interval=200']);
  const api = http(base);
  await child.ready(base);
  const reg = await api.json('POST', '/api/v1/auth/register', { email: `prof-${runId}-${i}@example.com`, password: 'bench password that is long enough' });
  const bearer = { authorization: `Bearer ${reg.body.accessToken}` };
  await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 3 });
  const r = await load({ url: `${base}/api/v1/auth/me`, headers: bearer, connections: 32, seconds: 10 });
  console.log(v, r.requests);
  await api.close();
  await child.stop();
  await deleteStream(process.env.NATS_URL!, `BENCHPROF_${runId}_${i}`);
}
await receiver.close();
