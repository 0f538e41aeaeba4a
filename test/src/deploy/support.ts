/**
 * Helpers of the deployment tests (test/src/deploy) and the fault suite (bench/src/faults):
 * free loopback ports, child processes with their output kept for error messages, and a
 * small JSON client. Test-only module.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A password that passes the policy. */
export const PASSWORD = 'correct horse battery staple 7';

/**
 * A free TCP port on 127.0.0.1 below the kernel's ephemeral range (32768+), so an outgoing
 * connection of another process cannot take it between this check and the caller's bind
 * (port 0 would hand out an ephemeral port, which a long-running suite then loses).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 20000-31999');
}

/** True when something accepts connections on 127.0.0.1:port. */
export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A child process whose stdout and stderr are kept (the last 64 KiB) for error messages. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProc(cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
}

/** Polls `check` until it returns true; throws with `describe()` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, describe: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms. ${describe()}`);
    await sleep(250);
  }
}

/** A parsed JSON (or text) response. */
export interface Json {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary fields
  body: any;
  headers: Headers;
}

/** fetch with a JSON body and bearer token; never throws on a status. */
export async function api(base: string, method: string, url: string, opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {}): Promise<Json> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(new URL(url, base), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

/** register -> login -> profile update -> own audit trail, through `base` (the gateway). Throws on a surprise. */
export async function roundTrip(base: string, headers: Record<string, string> = {}): Promise<{ userId: string; auditTypes: string[] }> {
  const email = `rt-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const reg = await api(base, 'POST', '/api/v1/auth/register', { body: { email, password: PASSWORD }, headers });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await api(base, 'POST', '/api/v1/auth/login', { body: { email, password: PASSWORD }, headers });
  if (login.status !== 200 || !login.body.accessToken) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  const token = login.body.accessToken as string;
  const patch = await api(base, 'PATCH', '/api/v1/users/me', { token, body: { displayName: 'Round Trip' }, headers });
  if (patch.status !== 200 || patch.body.displayName !== 'Round Trip') throw new Error(`profile: ${patch.status} ${JSON.stringify(patch.body)}`);
  // the audit trail is filled from events (outbox -> NATS/in-process -> audit), so it lags a little
  let auditTypes: string[] = [];
  await waitUntil(
    'the login and profile update in the audit trail',
    async () => {
      const r = await api(base, 'GET', '/api/v1/audit/me', { token, headers });
      auditTypes = r.status === 200 ? (r.body.items as Array<{ type: string }>).map((i) => i.type) : [];
      return auditTypes.some((t) => t.includes('login')) && auditTypes.some((t) => t.includes('profile'));
    },
    30_000,
    () => `audit/me types: ${auditTypes.join(', ')}`,
  );
  return { userId: login.body.user.id as string, auditTypes };
}
