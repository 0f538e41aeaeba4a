/**
 * Runs the shipped nginx site (deploy/nginx/gatehouse.conf) for tests and the fault suite:
 * only addresses, ports and certificate paths are changed, every other line is the shipped one.
 * nginx runs as a child process (`daemon off`, its own prefix, pid and logs in a temporary
 * directory) on free loopback ports, with a test certificate made by openssl.
 * Test-only module.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, portOpen, ROOT, startProc, waitUntil, type Proc } from './support';

export const NGINX = '/usr/sbin/nginx';
export const SHIPPED_SITE = path.join(ROOT, 'deploy/nginx/gatehouse.conf');
export const SHIPPED_INTERNAL = path.join(ROOT, 'deploy/nginx/gatehouse-internal-proxy.conf');
/** Why nginx tests are skipped here, or false. */
export const nginxMissing = existsSync(NGINX) ? false : `nginx is not installed at ${NGINX} (apt-get install -y nginx); CI installs it`;

export type Upstream = 'gateway' | 'auth' | 'users' | 'audit';

export interface SiteOptions {
  /** loopback ports of the replicas of each upstream (unset: a closed port, never used) */
  upstreams: Partial<Record<Upstream, number[]>>;
  /** serve the HTTPS server block over TLS (default) or plain HTTP (for suites that only care about routing) */
  tls?: boolean;
  /**
   * write an access log (`accessLogPath`): when each request ended (`$msec`), how long it took,
   * which upstream servers it was sent to and what they and nginx answered (the fault suite
   * reads what was in flight on a replica at the instant it was killed)
   */
  accessLog?: boolean;
  /** the site's text instead of the shipped file's (a variant a benchmark compares with it) */
  site?: string;
}

/** One line of the access log {@link SiteOptions.accessLog} writes. */
export interface AccessLogEntry {
  /** when nginx began (ms since the epoch: end minus the request time) and ended the request */
  startMs: number;
  endMs: number;
  /** the upstream servers tried, in order (`127.0.0.1:port`) and what each answered */
  upstreams: string[];
  upstreamStatuses: string[];
  /**
   * per server tried: whether a connection to it was made (or a kept-alive one reused), i.e.
   * the request was sent to it; false when the connect failed (refused: nothing was sent)
   */
  upstreamConnected: boolean[];
  status: number;
  method: string;
  uri: string;
}

/** Parses the access log {@link SiteOptions.accessLog} wrote (lines of other formats are skipped). */
export function parseAccessLog(text: string): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length !== 8) continue;
    const endMs = Math.round(Number(f[0]) * 1000);
    const tookMs = Math.round(Number(f[1]) * 1000);
    if (!Number.isFinite(endMs) || !Number.isFinite(tookMs)) continue;
    // nginx separates servers of one upstream group by ", " and groups (internal redirects) by " : "
    const list = (v: string) => (v === '-' || v === '' ? [] : v.split(/\s*,\s*|\s+:\s+/));
    // $upstream_connect_time: "-" for a server no connection was made to
    const connected = list(f[7]!).map((t) => t !== '-');
    out.push({ startMs: endMs - tookMs, endMs, upstreams: list(f[2]!), upstreamStatuses: list(f[3]!), upstreamConnected: connected, status: Number(f[4]), method: f[5]!, uri: f[6]! });
  }
  return out;
}

export interface RunningNginx {
  /** http://127.0.0.1:<port> of the port-80 server (redirects) */
  httpUrl: string;
  /** https://127.0.0.1:<port> (or http:// when tls is false) of the main site */
  siteUrl: string;
  /** the internal listeners for the gateway's AUTH_URL, USERS_URL, AUDIT_URL */
  internal: { auth: string; users: string; audit: string };
  /** the test certificate (PEM), to trust in clients */
  ca: string;
  dir: string;
  /** the access log's path when {@link SiteOptions.accessLog} is set */
  accessLogPath?: string;
  /** rewrites the upstream servers (e.g. marks one `down`), or the whole site's text, and reloads nginx gracefully */
  reload(upstreams: Partial<Record<Upstream, Array<number | { port: number; down: true }>>>, site?: string): Promise<void>;
  /** the master process's id (its workers are its children) */
  pid: number;
  stop(): Promise<void>;
}

/** A self-signed certificate for gatehouse.test, *.gatehouse.test and 127.0.0.1. */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'gatehouse.crt');
  const key = path.join(dir, 'gatehouse.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=gatehouse.test',
    '-addext', 'subjectAltName=DNS:gatehouse.test,DNS:*.gatehouse.test,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'pipe' });
  return { cert, key };
}

/** Replaces `from` (a string or pattern) and asserts it was there: the shipped site must keep its shape. */
function must(text: string, from: RegExp, to: string): string {
  assert.match(text, from, `the shipped nginx site no longer has ${from}`);
  return text.replace(from, to);
}

type ServerSpec = number | { port: number; down: true };

/** The shipped site with loopback addresses, the given ports and the test certificate. */
export function renderSite(
  shipped: string,
  o: { http: number; https: number; internal: Record<'auth' | 'users' | 'audit', number>; cert: string; key: string; tls: boolean; upstreams: Partial<Record<Upstream, ServerSpec[]>> },
): string {
  let s = shipped;
  // each service has two pools of the same servers: kept-alive and `_fresh` (see the site's "Upstream connections")
  for (const [name, pool] of (['gateway', 'auth', 'users', 'audit'] as const).flatMap((n) => [[n, n], [n, `${n}_fresh`]] as const)) {
    const block = new RegExp(`(upstream gatehouse_${pool} \\{[^}]*?)((?:\\s*server [^;]+;)+)`);
    const m = block.exec(s);
    assert.ok(m, `upstream gatehouse_${pool} with server lines in the shipped site`);
    const params = /server \S+ ([^;]*);/.exec(m[2]!)?.[1] ?? '';
    const servers = o.upstreams[name]?.length ? o.upstreams[name]! : [1];
    const lines = servers.map((sp) => (typeof sp === 'number' ? `\n    server 127.0.0.1:${sp} ${params};` : `\n    server 127.0.0.1:${sp.port} ${params} down;`)).join('');
    s = s.replace(m[0], `${m[1]!.replace(/\s*$/, '')}${lines}`);
  }
  s = must(s, /listen 80;/, `listen 127.0.0.1:${o.http};`);
  s = must(s, /\n\s*listen \[::\]:80;/, '');
  s = must(s, /listen 443 ssl http2;/, o.tls ? `listen 127.0.0.1:${o.https} ssl http2;` : `listen 127.0.0.1:${o.https};`);
  s = must(s, /\n\s*listen \[::\]:443 ssl http2;/, '');
  s = must(s, /ssl_certificate\s+\S+;/, `ssl_certificate ${o.cert};`);
  s = must(s, /ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${o.key};`);
  s = must(s, /listen 10\.0\.0\.5:8101;/, `listen 127.0.0.1:${o.internal.auth};`);
  s = must(s, /listen 10\.0\.0\.5:8102;/, `listen 127.0.0.1:${o.internal.users};`);
  s = must(s, /listen 10\.0\.0\.5:8103;/, `listen 127.0.0.1:${o.internal.audit};`);
  s = s.replaceAll('include gatehouse-internal-proxy.conf;', `include ${SHIPPED_INTERNAL};`);
  return s;
}

/** Starts nginx with the shipped site; see {@link RunningNginx}. */
export async function startNginx(opts: SiteOptions): Promise<RunningNginx> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-nginx-'));
  // workers may run as an unprivileged user: they must be able to write their temp files
  await chmod(dir, 0o777);
  const { cert, key } = makeCertificate(dir);
  await chmod(key, 0o644);
  const ports = { http: await freePort(), https: await freePort(), internal: { auth: await freePort(), users: await freePort(), audit: await freePort() } };
  const tls = opts.tls ?? true;
  let shipped = opts.site ?? (await readFile(SHIPPED_SITE, 'utf8'));
  const conf = path.join(dir, 'nginx.conf');
  const log = path.join(dir, 'error.log');
  const write = (upstreams: Partial<Record<Upstream, ServerSpec[]>>) =>
    writeFile(
      conf,
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${log} warn;
events { worker_connections 1024; }
http {
${opts.accessLog ? `log_format faults '$msec\\t$request_time\\t$upstream_addr\\t$upstream_status\\t$status\\t$request_method\\t$uri\\t$upstream_connect_time';\n  access_log ${dir}/access.log faults;` : 'access_log off;'}
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${renderSite(shipped, { ...ports, cert, key, tls, upstreams })}
}
`,
    );
  await write(opts.upstreams);
  const proc: Proc = startProc(NGINX, ['-c', conf, '-p', dir, '-e', log]);
  try {
    await waitUntil('nginx listening', async () => (await portOpen(ports.https)) && (await portOpen(ports.internal.audit)), 10_000, () => proc.output());
  } catch (err) {
    await proc.stop(1000);
    const errors = await readFile(log, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message} ${errors}`, { cause: err });
  }
  const scheme = tls ? 'https' : 'http';
  return {
    httpUrl: `http://127.0.0.1:${ports.http}`,
    siteUrl: `${scheme}://127.0.0.1:${ports.https}`,
    internal: {
      auth: `http://127.0.0.1:${ports.internal.auth}`,
      users: `http://127.0.0.1:${ports.internal.users}`,
      audit: `http://127.0.0.1:${ports.internal.audit}`,
    },
    ca: await readFile(cert, 'utf8'),
    dir,
    accessLogPath: opts.accessLog ? path.join(dir, 'access.log') : undefined,
    pid: proc.child.pid!,
    async reload(upstreams, site) {
      if (site !== undefined) shipped = site;
      await write({ ...opts.upstreams, ...upstreams });
      execFileSync(NGINX, ['-t', '-q', '-c', conf, '-p', dir, '-e', log], { stdio: 'pipe' });
      proc.child.kill('SIGHUP');
      // the old workers finish their requests; new ones use the new upstreams
      await new Promise((r) => setTimeout(r, 300));
    },
    async stop() {
      await proc.stop(5000);
      // the fault suite's FAULTS_KEEP_DIR=1 keeps the logs for a failure's diagnosis
      if (process.env.FAULTS_KEEP_DIR !== '1') await rm(dir, { recursive: true, force: true });
    },
  };
}
