/**
 * CPU per JetStream publish of the publishing process with the NATS client's async traces on
 * (its default: two Errors made ahead of every request, for their stacks) and off
 * (`noAsyncTraces`, what the platform's transport sets, events/nats.ts). 4,000 publishes of a
 * CloudEvent-sized body one after another per run, 6 runs of each interleaved; medians.
 * Not part of `npm run bench`: `NATS_URL=nats://127.0.0.1:4222 node --import tsx bench/src/nats-publish.ts`.
 */
import { connect, headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { median } from './cpu.report';
import { fmt } from './lib';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const STREAM = 'BENCH_NATS_PUBLISH';
const SUBJECT = 'benchnatspublish.event';
const PUBLISHES = 4000;
const body = JSON.stringify({ specversion: '1.0', id: 'x', type: 'auth.events.login_succeeded', source: 'auth', data: { userId: 'u', method: 'password' } });

/** µs of this process' CPU per publish, the client made with `noAsyncTraces`. */
async function run(noAsyncTraces: boolean): Promise<number> {
  const nc = await connect({ servers: url, noAsyncTraces });
  try {
    const js = jetstream(nc);
    const publish = (i: number) => {
      const h = headers();
      h.set('Content-Type', 'application/cloudevents+json');
      return js.publish(SUBJECT, body, { msgID: `${noAsyncTraces}-${i}-${Math.random()}`, headers: h, timeout: 5000 });
    };
    for (let i = 0; i < 300; i++) await publish(i); // warm-up
    const before = process.cpuUsage();
    for (let i = 0; i < PUBLISHES; i++) await publish(i);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / PUBLISHES;
  } finally {
    await nc.close();
  }
}

const admin = await connect({ servers: url });
const jsm = await jetstreamManager(admin);
await jsm.streams.add({ name: STREAM, subjects: [SUBJECT] });
try {
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < 6; r++) {
    for (const noTraces of r % 2 ? [true, false] : [false, true]) (noTraces ? off : on).push(await run(noTraces));
  }
  console.log(`async traces on (the client's default): ${on.map((x) => fmt(x, 1)).join(', ')} µs per publish; median ${fmt(median(on), 1)}`);
  console.log(`noAsyncTraces (Gatehouse's):            ${off.map((x) => fmt(x, 1)).join(', ')} µs per publish; median ${fmt(median(off), 1)}`);
  console.log(`noAsyncTraces vs on: ${fmt(100 * (median(off) / median(on) - 1), 1)}%`);
} finally {
  await jsm.streams.delete(STREAM);
  await admin.close();
}
