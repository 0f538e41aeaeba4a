/**
 * The gateway against a bare proxy (issue 13: an authenticated GET through the gateway ≥ 90%
 * of the same through a bare proxy), for the full `npm run bench`. The bare proxies
 * (bare-proxy.ts: Fastify + reply-from and nothing else) forward to the all-in-one process's
 * auth and users ports; the gateway is measured twice:
 * - as a process of its own (services/gateway/src/main.ts, per-service mode) in front of the
 *   same services: the like-for-like of the bare proxy, a process of its own too, with each
 *   proxy's CPU per request read from /proc;
 * - inside the all-in-one process, where it shares one JavaScript thread with the services it
 *   forwards to while the bare proxy runs beside them on the machine's other core, so that
 *   figure falls as the services get cheaper without the gateway doing more.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cpuMs } from './cpu';
import { fmt, freePort, load, serviceCommand, spawnNode, withPeakRss, type Child, type LoadResult } from './lib';

type ProxyRun = LoadResult & { proxyCpuUs: number };
export interface GatewayVsProxy {
  /** the all-in-one process's gateway */
  gateway: LoadResult;
  bareProxy: ProxyRun;
  ratio: number;
  /** the gateway as a process of its own */
  gatewayProcess: ProxyRun;
  processRatio: number;
}

const CONNECTIONS = 32;

/** Starts the bare proxies to `services`' auth and users ports; `measure` runs the comparison, `stop` ends them. */
export async function startBareProxies(env: Record<string, string | undefined>, services: Record<string, { port: number }>) {
  const start = async (service: string) => {
    const port = await freePort();
    const child = spawnNode('bench/src/bare-proxy.ts', [], { ...env, PORT: String(port), TARGET: `http://127.0.0.1:${services[service]!.port}` });
    await child.waitFor('bare proxy ready');
    return { child, url: `http://127.0.0.1:${port}` };
  };
  const bare = { auth: await start('auth'), users: await start('users') };

  /**
   * GET /auth/me and /users/me with `bearer` through the bare proxy, the gateway as a process
   * of its own (started here, stopped after) and the all-in-one gateway at `base` (process
   * `pid`, whose peak RSS under the /auth/me load is returned), one after the other.
   */
  async function measure(o: { base: string; pid: number; bearer: Record<string, string>; seconds: number }) {
    const { bearer, seconds } = o;
    /** a load run through a proxy process, with that process' CPU per request */
    const viaProcess = async (pid: number, url: string): Promise<ProxyRun> => {
      const before = cpuMs(pid);
      const r = await load({ url, headers: bearer, connections: CONNECTIONS, seconds });
      return { ...r, proxyCpuUs: ((cpuMs(pid) - before) * 1000) / Math.max(1, r.requests) };
    };
    const issuer = String(JSON.parse(Buffer.from(bearer.authorization!.slice('Bearer '.length).split('.')[1]!, 'base64url').toString()).iss);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-bench-gw-'));
    const gwPort = await freePort();
    // the production bundle as the container image runs it (until 2026-12-08 the TypeScript
    // source through tsx, as the bare proxy still is: its code is Fastify's and reply-from's)
    const gateway = await serviceCommand('gateway');
    const gw: Child = spawnNode(gateway.script, [], {
      ...env,
      PORT: String(gwPort),
      DATA_DIR: dataDir,
      TOKEN_ISSUER: issuer,
      AUTH_URL: `http://127.0.0.1:${services.auth!.port}`,
      USERS_URL: `http://127.0.0.1:${services.users!.port}`,
      AUDIT_URL: `http://127.0.0.1:${services.audit!.port}`,
    }, gateway.nodeArgs);
    const gwUrl = `http://127.0.0.1:${gwPort}`;
    try {
      await gw.ready(gwUrl);
      // a warm-up of every path measured (JWKS, tenant cache, JIT), the bare proxies' too: a
      // cold one paid its compilation in the measured run
      for (const url of [`${bare.auth.url}/api/v1/auth/me`, `${bare.users.url}/api/v1/users/me`, `${gwUrl}/api/v1/auth/me`, `${gwUrl}/api/v1/users/me`, `${o.base}/api/v1/auth/me`]) {
        await load({ url, headers: bearer, connections: CONNECTIONS, seconds: 1 });
      }
      const compare = (bareProxy: ProxyRun, gatewayProcess: ProxyRun, gateway: LoadResult): GatewayVsProxy => ({
        gateway,
        bareProxy,
        ratio: gateway.rps / bareProxy.rps,
        gatewayProcess,
        processRatio: gatewayProcess.rps / bareProxy.rps,
      });

      const bareMe = await viaProcess(bare.auth.child.proc.pid!, `${bare.auth.url}/api/v1/auth/me`);
      const aloneMe = await viaProcess(gw.proc.pid!, `${gwUrl}/api/v1/auth/me`);
      const gwMe = await withPeakRss(o.pid, () => load({ url: `${o.base}/api/v1/auth/me`, headers: bearer, connections: CONNECTIONS, seconds }));
      const authMe = { ...compare(bareMe, aloneMe, gwMe.result), peakRssMiB: gwMe.peakMiB };

      // the other order for the other path (A B, then B A): a drift of the machine during the
      // four runs favours neither proxy
      const aloneUsersMe = await viaProcess(gw.proc.pid!, `${gwUrl}/api/v1/users/me`);
      const bareUsersMe = await viaProcess(bare.users.child.proc.pid!, `${bare.users.url}/api/v1/users/me`);
      const gwUsersMe = await load({ url: `${o.base}/api/v1/users/me`, headers: bearer, connections: CONNECTIONS, seconds });
      const usersMe = compare(bareUsersMe, aloneUsersMe, gwUsersMe);

      for (const [label, c] of [['/auth/me', authMe], ['/users/me', usersMe]] as const) {
        console.log(
          `GET ${label}: all-in-one gateway ${fmt(c.gateway.rps)}/s p99 ${c.gateway.p99} ms (${fmt(100 * c.ratio)}%); gateway process ${fmt(c.gatewayProcess.rps)}/s (${fmt(100 * c.processRatio)}%), ` +
            `${fmt(c.gatewayProcess.proxyCpuUs)} µs of its CPU per request; bare proxy ${fmt(c.bareProxy.rps)}/s p99 ${c.bareProxy.p99} ms, ${fmt(c.bareProxy.proxyCpuUs)} µs; ` +
            `non-2xx ${c.gateway.non2xx}/${c.gatewayProcess.non2xx}/${c.bareProxy.non2xx}`,
        );
      }
      return { authMe, usersMe };
    } finally {
      await gw.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  return {
    measure,
    async stop() {
      await bare.auth.child.stop();
      await bare.users.child.stop();
    },
  };
}
