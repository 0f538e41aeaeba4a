/**
 * Where a webhook may be sent (SSRF protection, docs/webhooks.md "Targets"):
 *
 * - at creation and on every change, the URL must be http(s) without userinfo or fragment,
 *   and a host that is an IP literal must be a public unicast address;
 * - at send time the host name is resolved, every answer is checked, and the connection is
 *   made to the checked address itself (the lookup the socket uses is this one), so a DNS
 *   answer that changes between check and connect (rebinding) cannot reach an internal host;
 * - redirects are never followed (undici's request does not, and nothing here adds it).
 *
 * "Public" is `ipaddr.js`'s `unicast` range: loopback, private (RFC 1918), link-local,
 * unique-local (fc00::/7), multicast, carrier-grade NAT, reserved, unspecified and the
 * IPv6 transition ranges that embed an IPv4 address (6to4, Teredo, NAT64) are refused; an
 * IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
 * `WEBHOOK_ALLOW_PRIVATE=true` lifts the address rules (development, tests).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';
import { webhookErrors } from './webhooks.errors';

/** The ipaddr.js range of an address ('unicast' for a public one), IPv4-mapped IPv6 unwrapped. */
export function addressRange(address: string): string {
  if (!ipaddr.isValid(address)) return 'invalid';
  return ipaddr.process(address).range();
}

/** True when `address` (an IP literal) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  return addressRange(address) === 'unicast';
}

/** Thrown by the pinned lookup: the target resolves to no address a webhook may reach. */
export class TargetRefusedError extends Error {
  readonly code = 'ETARGETREFUSED';
}

/** The host of a URL without IPv6 brackets. */
function bareHost(u: URL): string {
  return u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
}

/**
 * Checks an endpoint URL as an admin sends it; throws 400 `invalid_webhook_url` or
 * `webhook_target_refused` (an IP literal that is not public, or a name that is obviously
 * local such as `localhost`). Names are resolved at send time, not here: their answers change.
 */
export function checkTargetUrl(value: string, allowPrivate: boolean): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw webhookErrors.badUrl('must be an absolute URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw webhookErrors.badUrl('must be http or https');
  if (u.username || u.password) throw webhookErrors.badUrl('must not contain userinfo');
  if (u.hash) throw webhookErrors.badUrl('must not contain a fragment');
  if (allowPrivate) return u;
  const host = bareHost(u);
  if (isIP(host) !== 0 && !isPublicAddress(host)) throw webhookErrors.targetRefused(`${host} is a ${addressRange(host)} address`);
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) throw webhookErrors.targetRefused(`${name} is a loopback name`);
  return u;
}

/**
 * A `lookup` for net/tls connect that resolves like the system resolver and then refuses any
 * answer that is not public; the socket connects to exactly the addresses returned here.
 * Hand-written because it is a dozen lines over node:dns and ipaddr.js: no library wraps
 * undici's connector with an address policy.
 */
export function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const allowed = allowPrivate ? addresses : addresses.filter((a) => isPublicAddress(a.address));
      if (allowed.length === 0) {
        const seen = addresses.map((a) => `${a.address} (${addressRange(a.address)})`).join(', ');
        return callback(new TargetRefusedError(`${hostname} resolves to no public address: ${seen}`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      const first = allowed[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The undici dispatcher every delivery goes through: connections made with
 * {@link checkedLookup}, a connect timeout, no redirects (none are followed without an
 * interceptor), keep-alive pooling per origin (a pooled connection is one to a checked address).
 */
export function createTargetAgent(opts: { allowPrivate: boolean; timeoutMs: number }): Agent {
  return new Agent({
    connect: { lookup: checkedLookup(opts.allowPrivate), timeout: opts.timeoutMs },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 4000,
    connections: 8,
  });
}

/**
 * Send-time check of a stored URL: an IP-literal host never goes through the lookup (the
 * socket connects to it directly), so it is judged here. Returns the refusal, or undefined.
 */
export function refusalAtSend(u: URL, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  const host = bareHost(u);
  if (isIP(host) !== 0 && !isPublicAddress(host)) return `${host} is a ${addressRange(host)} address`;
  return undefined;
}
