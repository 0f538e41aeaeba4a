/**
 * A NATS server of the test's own (`/usr/sbin/nats-server -js`), on a free loopback port with
 * a temporary store, so a test can stop and start it (an outage) without disturbing the
 * shared server other test files use. Test-only module.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where Debian's nats-server package puts the binary. */
export const NATS_SERVER_BIN = '/usr/sbin/nats-server';

/** Why a test that needs its own NATS server cannot run here, or undefined when it can. */
export function natsServerMissing(): string | undefined {
  return existsSync(NATS_SERVER_BIN) ? undefined : `${NATS_SERVER_BIN} is not installed (apt-get install nats-server), so this test cannot run a NATS server of its own to stop and start`;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; it is free when this resolves). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A running (or stopped) nats-server child process with its store directory. */
export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** true while the process runs */
  readonly running: boolean;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s) */
  stop(): Promise<void>;
  /** starts it again on the same port and store (JetStream streams and consumers survive) */
  start(): Promise<void>;
  /** stops it and removes the store */
  close(): Promise<void>;
}

/** Starts `nats-server -js -sd <tmpdir> -a 127.0.0.1 -p <free port>` and waits until it accepts clients. */
export async function startNatsServer(): Promise<NatsServer> {
  const missing = natsServerMissing();
  if (missing) throw new Error(missing);
  const storeDir = await mkdtemp(path.join(tmpdir(), 'gh-e2e-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    if (child) return;
    output = '';
    const proc = spawn(NATS_SERVER_BIN, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + 15_000;
    // "Server is ready" is logged once the client port and JetStream are up.
    while (!output.includes('Server is ready') || !(await accepts(port))) {
      if (child !== proc) throw new Error(`nats-server exited while starting:\n${output}`);
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`nats-server did not become ready in 15 s:\n${output}`);
      }
      await sleep(50);
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    child = undefined;
  }

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
    async close() {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
