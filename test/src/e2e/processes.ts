/**
 * Services as separate processes (`node --import tsx services/<name>/src/main.ts`), the way
 * production runs them, for suites that must cross a process boundary. Test-only module.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root (this file is test/src/e2e/processes.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A service process listening on `url`. */
export interface ServiceProcess {
  name: string;
  url: string;
  /** what it wrote to stdout and stderr so far (for failure messages) */
  output(): string;
  /** SIGTERM, wait for the exit (SIGKILL after 15 s); resolves to the exit code */
  stop(): Promise<number | null>;
}

/**
 * Spawns `services/<name>/src/main.ts` with exactly `env` (plus PATH) on `port`, and waits until
 * its `/readyz` answers 200. Throws with the process output when it exits or is not ready in time.
 */
export async function spawnService(
  name: 'auth' | 'users' | 'audit' | 'gateway',
  port: number,
  env: Record<string, string | undefined>,
  readyTimeoutMs = 120_000,
  /** run the production bundle (services/<name>/dist/main.js, built beforehand) instead of the sources */
  bundled = false,
): Promise<ServiceProcess> {
  const args = bundled ? [`services/${name}/dist/main.js`] : ['--import', 'tsx', `services/${name}/src/main.ts`];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    // METRICS_PORT 0: processes of one test (and parallel test files) must not race for 9464
    env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: '0', GRPC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;

  async function stop(): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(killer);
    return code;
  }

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) while starting:\n${out}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready after ${readyTimeoutMs} ms:\n${out}`);
    }
    await sleep(100);
  }
  return { name, url, output: () => out, stop };
}

/**
 * A stand-in upstream that answers 200 `{ok: true}` to everything: behind the gateway, a 200
 * proves the gateway let a request through, a 401 that the gateway itself refused it.
 */
export async function startOkUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
