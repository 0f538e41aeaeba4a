/**
 * argon2id on worker threads, one per core. @node-rs/argon2's promise functions compute on
 * libuv's pool but first do ~3 ms of synchronous work per call on the calling thread (measured
 * on the bench machine: 2.8 ms of a 13–15 ms verification), which on a server is the event loop
 * every other request waits for. Here the whole call (`verifySync` / `hashSync`) runs in a
 * worker, and the event loop only posts a message and reads the answer.
 *
 * Hand-written rather than piscina: the worker is a small evaluated snippet that loads the
 * package by the path resolved here, so the bundles (dist/main.js) need no worker file of their
 * own beside them, and the pool only has to hand one job at a time to each idle worker in order.
 * Idle workers are unref'd (they never keep a process alive); a worker holding a job is ref'd.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const argon2 = require(workerData.module);
parentPort.on('message', (job) => {
  try {
    const value = job.op === 'verify' ? argon2.verifySync(job.stored, job.password) : argon2.hashSync(job.password, job.options);
    parentPort.postMessage({ value });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});`;

type Job = { op: 'verify'; stored: string; password: string } | { op: 'hash'; password: string; options: object };
interface Pending { job: Job; resolve: (v: string | boolean) => void; reject: (e: Error) => void }
interface Slot { worker: Worker; current?: Pending }

/** A pool of `size` argon2 workers (default: the cores this process may use). */
export function createArgon2Pool(size = os.availableParallelism()) {
  const modulePath = createRequire(import.meta.url).resolve('@node-rs/argon2');
  const slots: Slot[] = [];
  const queue: Pending[] = [];
  let closed = false;

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { module: modulePath } }) };
    slot.worker.unref();
    slot.worker.on('message', (msg: { value?: string | boolean; error?: string }) => {
      const p = slot.current;
      slot.current = undefined;
      if (p) {
        if (msg.error !== undefined) p.reject(new Error(msg.error));
        else p.resolve(msg.value!);
      }
      next(slot);
    });
    const fail = (err: Error) => {
      // a worker that died (out of memory, terminated) fails its job and is replaced on demand
      slots.splice(slots.indexOf(slot), 1);
      slot.current?.reject(err);
      slot.current = undefined;
      pump();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => {
      if (slots.includes(slot)) fail(new Error(`argon2 worker exited (${code})`));
    });
    slots.push(slot);
    return slot;
  }

  function next(slot: Slot) {
    const p = queue.shift();
    if (!p) {
      slot.worker.unref();
      return;
    }
    slot.current = p;
    slot.worker.ref();
    slot.worker.postMessage(p.job);
  }

  function pump() {
    while (queue.length > 0) {
      const idle = slots.find((s) => !s.current) ?? (slots.length < size ? spawn() : undefined);
      if (!idle) return;
      next(idle);
    }
  }

  function run<T extends string | boolean>(job: Job): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (closed) return reject(new Error('argon2 pool closed'));
      queue.push({ job, resolve: resolve as (v: string | boolean) => void, reject });
      pump();
    });
  }

  return {
    size,
    /** True when `password` matches the PHC string `stored`; rejects for an unreadable hash. */
    verify: (stored: string, password: string) => run<boolean>({ op: 'verify', stored, password }),
    /** The PHC string of `password` with `options` (@node-rs/argon2's Options). */
    hash: (password: string, options: object) => run<string>({ op: 'hash', password, options }),
    /** Ends the workers (shutdown, tests); jobs still queued fail. */
    async close(): Promise<void> {
      closed = true;
      for (const p of queue.splice(0)) p.reject(new Error('argon2 pool closed'));
      const all = slots.splice(0);
      await Promise.all(all.map((s) => s.worker.terminate()));
      for (const s of all) s.current?.reject(new Error('argon2 pool closed'));
    },
  };
}
export type Argon2Pool = ReturnType<typeof createArgon2Pool>;

let shared: Argon2Pool | undefined;
/** The process' pool, created on first use (every hasher of the process shares the cores). */
export function argon2Pool(): Argon2Pool {
  shared ??= createArgon2Pool();
  return shared;
}
