/**
 * Subdomain tenant resolution through nginx in front of the gateway, with the site shipped in
 * deploy/nginx/gatehouse.conf (only its listen address and upstream port changed): nginx
 * passes `Host` and sets `X-Forwarded-*`, the gateway trusts it (TRUST_PROXY=127.0.0.1) and
 * resolves the tenant from the host the client asked for. nginx runs as a child process of
 * this test (`daemon off`, its own prefix, pid and logs in a temporary directory) on a free
 * loopback port. Skipped, saying why, only when /usr/sbin/nginx is not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_TENANT_ID } from '@gatehouse/contracts';
import { PASSWORD, BASE_DOMAIN, startTestSystem, uniqueEmail, uniqueSlug, type Account, type TestSystem } from '../system';

const NGINX = '/usr/sbin/nginx';
const SHIPPED_SITE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy/nginx/gatehouse.conf');
const skip = existsSync(NGINX) ? false : `nginx is not installed at ${NGINX} (apt-get install -y nginx); CI installs it`;

/** A free TCP port on 127.0.0.1 (bound and released; nginx binds it right after). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
async function waitForPort(port: number, timeoutMs: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child.exitCode !== null || Date.now() > deadline) {
      const errors = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`nginx did not start (exit ${child.exitCode}): ${errors}`);
    }
    await sleep(50);
  }
}

/**
 * Starts nginx with the shipped site in front of `gatewayPort`; returns its base URL and a
 * stop function that ends it and removes its directory.
 */
async function startNginx(gatewayPort: number): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gh-nginx-'));
  // workers may run as an unprivileged user: they must be able to write their temp files
  await chmod(dir, 0o777);
  const port = await freePort();
  const site = (await readFile(SHIPPED_SITE, 'utf8'))
    .replace(/server 127\.0\.0\.1:3000;/, `server 127.0.0.1:${gatewayPort};`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  assert.ok(site.includes(`127.0.0.1:${gatewayPort}`) && site.includes(`listen 127.0.0.1:${port}`), 'the shipped site has the expected listen and upstream lines');
  const conf = path.join(dir, 'nginx.conf');
  const log = path.join(dir, 'error.log');
  await writeFile(
    conf,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${log} warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`,
  );
  const child = spawn(NGINX, ['-c', conf, '-p', dir, '-e', log], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForPort(port, 10_000, child, log);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message} ${stderr}`, { cause: err });
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('tenant resolution through nginx in front of the gateway', { skip }, () => {
  let h: TestSystem;
  let nginx: Awaited<ReturnType<typeof startNginx>>;
  let acme: Awaited<ReturnType<TestSystem['createTenant']>>;
  let globex: Awaited<ReturnType<TestSystem['createTenant']>>;
  let ada: Account;

  /** Through nginx: the tenant an account registered with these headers lands in. */
  async function servedAs(host: string, headers: Record<string, string> = {}) {
    const r = await h.request('POST', '/api/v1/auth/register', { base: nginx.url, host, headers, body: { email: uniqueEmail('nginx'), password: PASSWORD } });
    return { status: r.status, tenantId: r.body?.user?.tenantId as string | undefined, code: r.body?.code as string | undefined };
  }

  before(async () => {
    h = await startTestSystem({ baseDomain: BASE_DOMAIN, env: { TRUST_PROXY: '127.0.0.1' } });
    nginx = await startNginx(Number(new URL(h.url).port));
    acme = await h.createTenant({ slug: uniqueSlug('acme'), withAdmin: false });
    globex = await h.createTenant({ slug: uniqueSlug('globex'), withAdmin: false });
    ada = await h.register({ tenant: acme.slug });
  });
  after(async () => {
    await nginx?.stop();
    await h?.close();
  });

  test('Host <slug>.<BASE_DOMAIN> through nginx is that tenant; the bare domain is the default tenant', async () => {
    assert.deepEqual(await servedAs(`${acme.slug}.gatehouse.test`), { status: 201, tenantId: acme.id, code: undefined });
    assert.equal((await servedAs(`${globex.slug}.gatehouse.test`)).tenantId, globex.id);
    assert.equal((await servedAs('gatehouse.test')).tenantId, DEFAULT_TENANT_ID);
    const me = await h.request('GET', '/api/v1/auth/me', { base: nginx.url, tenant: acme.slug, token: ada.accessToken });
    assert.equal(me.status, 200);
    assert.equal(me.body.tenantId, acme.id);
  });

  test('a client cannot pick the tenant with X-Forwarded-Host: nginx sets it from the Host it served', async () => {
    assert.equal((await servedAs(`${acme.slug}.gatehouse.test`, { 'x-forwarded-host': `${globex.slug}.gatehouse.test` })).tenantId, acme.id);
    assert.equal((await servedAs('gatehouse.test', { 'x-forwarded-host': `${globex.slug}.gatehouse.test`, 'x-gatehouse-tenant': globex.id })).tenantId, DEFAULT_TENANT_ID);
  });

  test('unknown and invalid tenants, and a token on the wrong host, answer clear problems through nginx', async () => {
    assert.deepEqual(await servedAs('nope-nope.gatehouse.test'), { status: 404, tenantId: undefined, code: 'tenant_not_found' });
    assert.deepEqual(await servedAs('bad_label.gatehouse.test'), { status: 400, tenantId: undefined, code: 'invalid_tenant' });
    const r = await h.request('GET', '/api/v1/auth/me', { base: nginx.url, tenant: globex.slug, token: ada.accessToken });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'invalid_token');
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  });
});
